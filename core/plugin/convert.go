package plugin

import (
	"github.com/seedmicro/micro/core/broker"
	pluginpb "github.com/seedmicro/micro/core/plugin/proto"
	"github.com/seedmicro/micro/core/registry"
)

// Conversions between the core types and their protocol messages. Maps and
// byte slices going out are shared, not copied: a message is marshalled
// before the call that sends it returns. Coming in, they are fresh.

func serviceToPB(s *registry.Service) *pluginpb.Service {
	if s == nil {
		return nil
	}
	out := &pluginpb.Service{
		Name:     s.Name,
		Version:  s.Version,
		Metadata: s.Metadata,
	}
	if len(s.Endpoints) > 0 {
		out.Endpoints = make([]*pluginpb.Endpoint, len(s.Endpoints))
		for i, e := range s.Endpoints {
			pe := &pluginpb.Endpoint{}
			if e != nil {
				pe.Name = e.Name
				pe.Request = valueToPB(e.Request)
				pe.Response = valueToPB(e.Response)
				pe.Metadata = e.Metadata
			}
			out.Endpoints[i] = pe
		}
	}
	if len(s.Nodes) > 0 {
		out.Nodes = make([]*pluginpb.Node, len(s.Nodes))
		for i, n := range s.Nodes {
			// A nil node travels as an empty one, which has no ID: the
			// implementation rejects it as it would have rejected nil.
			pn := &pluginpb.Node{}
			if n != nil {
				pn.Id = n.ID
				pn.Address = n.Address
				pn.Metadata = n.Metadata
			}
			out.Nodes[i] = pn
		}
	}
	return out
}

func valueToPB(v *registry.Value) *pluginpb.Value {
	if v == nil {
		return nil
	}
	out := &pluginpb.Value{Name: v.Name, Type: v.Type}
	if len(v.Fields) > 0 {
		out.Fields = make([]*pluginpb.Value, len(v.Fields))
		for i, f := range v.Fields {
			out.Fields[i] = valueToPB(f)
			if out.Fields[i] == nil {
				out.Fields[i] = &pluginpb.Value{}
			}
		}
	}
	return out
}

func serviceFromPB(s *pluginpb.Service) *registry.Service {
	if s == nil {
		return nil
	}
	out := &registry.Service{
		Name:     s.Name,
		Version:  s.Version,
		Metadata: s.Metadata,
	}
	if len(s.Endpoints) > 0 {
		out.Endpoints = make([]*registry.Endpoint, len(s.Endpoints))
		for i, e := range s.Endpoints {
			out.Endpoints[i] = &registry.Endpoint{
				Name:     e.Name,
				Request:  valueFromPB(e.Request),
				Response: valueFromPB(e.Response),
				Metadata: e.Metadata,
			}
		}
	}
	if len(s.Nodes) > 0 {
		out.Nodes = make([]*registry.Node, len(s.Nodes))
		for i, n := range s.Nodes {
			out.Nodes[i] = &registry.Node{ID: n.Id, Address: n.Address, Metadata: n.Metadata}
		}
	}
	return out
}

func valueFromPB(v *pluginpb.Value) *registry.Value {
	if v == nil {
		return nil
	}
	out := &registry.Value{Name: v.Name, Type: v.Type}
	if len(v.Fields) > 0 {
		out.Fields = make([]*registry.Value, len(v.Fields))
		for i, f := range v.Fields {
			out.Fields[i] = valueFromPB(f)
		}
	}
	return out
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

func eventTypeToPB(t registry.EventType) pluginpb.EventType {
	switch t {
	case registry.Added:
		return pluginpb.EventType_EVENT_TYPE_ADDED
	case registry.Updated:
		return pluginpb.EventType_EVENT_TYPE_UPDATED
	case registry.Removed:
		return pluginpb.EventType_EVENT_TYPE_REMOVED
	}
	return pluginpb.EventType_EVENT_TYPE_UNSPECIFIED
}

func eventTypeFromPB(t pluginpb.EventType) registry.EventType {
	switch t {
	case pluginpb.EventType_EVENT_TYPE_ADDED:
		return registry.Added
	case pluginpb.EventType_EVENT_TYPE_UPDATED:
		return registry.Updated
	case pluginpb.EventType_EVENT_TYPE_REMOVED:
		return registry.Removed
	}
	return 0
}

func messageFromPB(m *pluginpb.Message) *broker.Message {
	if m == nil {
		return nil
	}
	return &broker.Message{ID: m.Id, Header: m.Header, Body: m.Body}
}
