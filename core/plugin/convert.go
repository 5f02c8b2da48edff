package plugin

import (
	"github.com/seedmicro/micro/core/broker"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
	"github.com/seedmicro/micro/core/registry"
)

// Conversions between the core types and their protocol messages. Maps and
// byte slices going out are shared, not copied: a message is marshalled
// before the call that sends it returns. Coming in, they are fresh.

// convertAll converts each element of in with f; an empty in gives nil.
func convertAll[T, U any](in []T, f func(T) U) []U {
	if len(in) == 0 {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func serviceToPB(s *registry.Service) *pluginpb.Service {
	if s == nil {
		return nil
	}
	return &pluginpb.Service{
		Name:      s.Name,
		Version:   s.Version,
		Metadata:  s.Metadata,
		Endpoints: convertAll(s.Endpoints, endpointToPB),
		Nodes:     convertAll(s.Nodes, nodeToPB),
	}
}

// endpointToPB converts e; a nil endpoint travels as an empty one.
func endpointToPB(e *registry.Endpoint) *pluginpb.Endpoint {
	if e == nil {
		return &pluginpb.Endpoint{}
	}
	return &pluginpb.Endpoint{Name: e.Name, Request: valueToPB(e.Request), Response: valueToPB(e.Response), Metadata: e.Metadata}
}

// nodeToPB converts n. A nil node travels as an empty one, which has no
// ID: the implementation rejects it as it would have rejected nil.
func nodeToPB(n *registry.Node) *pluginpb.Node {
	if n == nil {
		return &pluginpb.Node{}
	}
	return &pluginpb.Node{Id: n.ID, Address: n.Address, Metadata: n.Metadata}
}

func valueToPB(v *registry.Value) *pluginpb.Value {
	if v == nil {
		return nil
	}
	return &pluginpb.Value{Name: v.Name, Type: v.Type, Fields: convertAll(v.Fields, fieldToPB)}
}

// fieldToPB converts a field of a value; a nil field travels as an empty
// value.
func fieldToPB(f *registry.Value) *pluginpb.Value {
	if f == nil {
		return &pluginpb.Value{}
	}
	return valueToPB(f)
}

func serviceFromPB(s *pluginpb.Service) *registry.Service {
	if s == nil {
		return nil
	}
	return &registry.Service{
		Name:      s.Name,
		Version:   s.Version,
		Metadata:  s.Metadata,
		Endpoints: convertAll(s.Endpoints, endpointFromPB),
		Nodes:     convertAll(s.Nodes, nodeFromPB),
	}
}

func endpointFromPB(e *pluginpb.Endpoint) *registry.Endpoint {
	return &registry.Endpoint{Name: e.Name, Request: valueFromPB(e.Request), Response: valueFromPB(e.Response), Metadata: e.Metadata}
}

func nodeFromPB(n *pluginpb.Node) *registry.Node {
	return &registry.Node{ID: n.Id, Address: n.Address, Metadata: n.Metadata}
}

func valueFromPB(v *pluginpb.Value) *registry.Value {
	if v == nil {
		return nil
	}
	return &registry.Value{Name: v.Name, Type: v.Type, Fields: convertAll(v.Fields, valueFromPB)}
}

func servicesToPB(svcs []*registry.Service) []*pluginpb.Service {
	out := make([]*pluginpb.Service, 0, len(svcs))
	for _, s := range svcs {
		if s != nil {
			out = append(out, serviceToPB(s))
		}
	}
	return out
}

func servicesFromPB(svcs []*pluginpb.Service) []*registry.Service {
	out := make([]*registry.Service, len(svcs))
	for i, s := range svcs {
		out[i] = serviceFromPB(s)
	}
	return out
}

// eventTypes pairs each registry event type with its protocol value.
var eventTypes = [...]struct {
	core registry.EventType
	pb   pluginpb.EventType
}{
	{registry.Added, pluginpb.EventType_EVENT_TYPE_ADDED},
	{registry.Updated, pluginpb.EventType_EVENT_TYPE_UPDATED},
	{registry.Removed, pluginpb.EventType_EVENT_TYPE_REMOVED},
}

func eventTypeToPB(t registry.EventType) pluginpb.EventType {
	for _, e := range eventTypes {
		if e.core == t {
			return e.pb
		}
	}
	return pluginpb.EventType_EVENT_TYPE_UNSPECIFIED
}

func eventTypeFromPB(t pluginpb.EventType) registry.EventType {
	for _, e := range eventTypes {
		if e.pb == t {
			return e.core
		}
	}
	return 0
}

func messageFromPB(m *pluginpb.Message) *broker.Message {
	if m == nil {
		return nil
	}
	return &broker.Message{ID: m.Id, Header: m.Header, Body: m.Body}
}
