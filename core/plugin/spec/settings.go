package spec

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// SettingsError reports plugin settings that a plugin rejected. A plugin
// returns it from DecodeSettings, or from its own checks; the host gets it
// back from Open as is (errors.As finds it), with Plugin set, and nothing is
// left running.
type SettingsError struct {
	// Plugin is the plugin's name, set on the host; empty in the plugin.
	Plugin string
	// Field is the JSON name of the field at fault, dotted for a nested
	// field ("tls.ca") and with an index for an element of a list
	// ("brokers[2].address"); empty when the document as a whole is at
	// fault.
	Field string
	// Reason says what is wrong, e.g. "unknown field (known fields:
	// address, queue)" or "want int, got string".
	Reason string
}

// Error returns
//
//	plugin [<Plugin> ]settings: field "<Field>": <Reason>
//
// or, without a field, plugin [<Plugin> ]settings: <Reason>.
func (e *SettingsError) Error() string {
	var b strings.Builder
	b.WriteString("plugin ")
	if e.Plugin != "" {
		b.WriteString(e.Plugin)
		b.WriteByte(' ')
	}
	b.WriteString("settings: ")
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(strconv.Quote(e.Field))
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// DecodeSettings decodes the JSON document raw into v, a pointer to a
// plugin's configuration struct, strictly: a field that v does not have is
// an error, and so is anything after the document. Empty settings (no bytes,
// only white space, or null) leave v as it is.
//
// Every error is a *SettingsError that names the field at fault, for
// instance
//
//	plugin settings: field "adress": unknown field (known fields: address, queue)
//	plugin settings: field "tls.port": want int, got string
//
// The Func forms of Plugin call it; a plugin reading settings of its own
// can call it too.
func DecodeSettings(raw []byte, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return settingsError(raw, v, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &SettingsError{Reason: "invalid JSON: more than one value"}
	}
	return nil
}

// unknownFieldPrefix starts the message of encoding/json's error for a field
// that the destination does not have; the error has no type of its own.
const unknownFieldPrefix = "json: unknown field "

// settingsError turns an error of encoding/json decoding raw into v into a
// *SettingsError.
func settingsError(raw []byte, v any, err error) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &SettingsError{Reason: "want a JSON object, got " + typeErr.Value}
		}
		return &SettingsError{Field: typeErr.Field, Reason: fmt.Sprintf("want %s, got %s", typeErr.Type, typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return &SettingsError{Reason: fmt.Sprintf("invalid JSON at byte %d: %v", syntaxErr.Offset, err)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &SettingsError{Reason: "invalid JSON: unexpected end"}
	case strings.HasPrefix(err.Error(), unknownFieldPrefix):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), unknownFieldPrefix))
		if uerr != nil {
			break
		}
		se := &SettingsError{Field: name, Reason: "unknown field"}
		var doc any
		if json.Unmarshal(raw, &doc) == nil {
			if path, known, ok := findUnknown(reflect.TypeOf(v), doc, "", name); ok {
				se.Field = path
				if len(known) > 0 {
					se.Reason += " (known fields: " + strings.Join(known, ", ") + ")"
				}
			}
		}
		return se
	}
	return &SettingsError{Reason: err.Error()}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// findUnknown looks in doc, decoded JSON meant for a value of type t found
// at path, for a key named name that t has no field for. It returns the key's
// path and the JSON names of the fields of the struct that lacks it.
func findUnknown(t reflect.Type, doc any, path, name string) (string, []string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return "", nil, false
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", nil, false
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := fieldType(fields, k)
			if !ok {
				if k == name {
					known := make([]string, 0, len(fields))
					for _, f := range fields {
						known = append(known, f.name)
					}
					slices.Sort(known)
					return join(path, k), known, true
				}
				continue
			}
			if p, known, ok := findUnknown(ft, obj[k], join(path, k), name); ok {
				return p, known, true
			}
		}
	case reflect.Slice, reflect.Array:
		list, ok := doc.([]any)
		if !ok {
			return "", nil, false
		}
		for i, e := range list {
			if p, known, ok := findUnknown(t.Elem(), e, path+"["+strconv.Itoa(i)+"]", name); ok {
				return p, known, true
			}
		}
	case reflect.Map:
		obj, ok := doc.(map[string]any)
		if !ok {
			return "", nil, false
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if p, known, ok := findUnknown(t.Elem(), obj[k], join(path, k), name); ok {
				return p, known, true
			}
		}
	}
	return "", nil, false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFields returns the fields encoding/json decodes into a struct of type
// t, with those of embedded structs, by their JSON names.
func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonFields(ft)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, typ: f.Type})
	}
	return out
}

// fieldType finds the field that encoding/json decodes key into: the one
// named key, else one whose name matches it regardless of case.
func fieldType(fields []jsonField, key string) (reflect.Type, bool) {
	for _, f := range fields {
		if f.name == key {
			return f.typ, true
		}
	}
	for _, f := range fields {
		if strings.EqualFold(f.name, key) {
			return f.typ, true
		}
	}
	return nil, false
}
