package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Changes lists "key: old -> new" for every YAML field that differs
// between a and b (structs of the same type), recursing into nested
// structs. Reflection keeps it in step with new config keys for free.
func Changes(prefix string, a, b any) []string {
	var out []string
	var walk func(prefix string, va, vb reflect.Value)
	walk = func(prefix string, va, vb reflect.Value) {
		for va.Kind() == reflect.Pointer {
			if va.IsNil() || vb.IsNil() {
				if va.IsNil() != vb.IsNil() || (!va.IsNil() && !reflect.DeepEqual(va.Interface(), vb.Interface())) {
					out = append(out, fmt.Sprintf("%s: %s -> %s", prefix, show(va), show(vb)))
				}
				return
			}
			va, vb = va.Elem(), vb.Elem()
		}
		if va.Kind() != reflect.Struct {
			if !reflect.DeepEqual(va.Interface(), vb.Interface()) {
				out = append(out, fmt.Sprintf("%s: %s -> %s", prefix, show(va), show(vb)))
			}
			return
		}
		t := va.Type()
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if prefix != "" {
				name = prefix + "." + name
			}
			walk(name, va.Field(i), vb.Field(i))
		}
	}
	walk(prefix, reflect.ValueOf(a), reflect.ValueOf(b))
	return out
}

func show(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "(default)"
		}
		v = v.Elem()
	}
	if d, ok := v.Interface().(Duration); ok {
		return d.Std().String()
	}
	if v.Kind() == reflect.Slice {
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if v.Kind() == reflect.String && v.String() == "" {
		return `""`
	}
	return fmt.Sprint(v.Interface())
}
