package checks

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"testing"
)

// fakeResolver answers from a map; a missing name is NXDOMAIN.
type fakeResolver struct {
	calls int
	addrs map[string][]netip.Addr
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.calls++
	if a, ok := f.addrs[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestResolve(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.18.3.10"), netip.MustParseAddr("2001:db8:3::10")
	tests := []struct {
		name      string
		req       Request
		want      []string
		lookups   int
		notFound  bool
		wantError bool
	}{
		{"name: every A and AAAA, mapped addresses unmapped, duplicates dropped", Request{Host: "web"}, []string{"198.18.3.10", "2001:db8:3::10"}, 1, false, false},
		{"literal v4 skips DNS", Request{Host: "198.18.3.10"}, []string{"198.18.3.10"}, 0, false, false},
		{"bracketed v6 skips DNS", Request{Host: "[2001:db8:3::10]"}, []string{"2001:db8:3::10"}, 0, false, false},
		{"pre-resolved addrs skip DNS", Request{Host: "web", Addrs: []netip.Addr{v6}}, []string{"2001:db8:3::10"}, 0, false, false},
		{"nxdomain", Request{Host: "nope.invalid"}, []string{}, 1, true, true},
		{"empty host", Request{Host: ""}, []string{}, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeResolver{addrs: map[string][]netip.Addr{"web": {netip.AddrFrom16(v4.As16()), v6, v4}}}
			addrs, res := resolve(context.Background(), r, tt.req)
			if !reflect.DeepEqual(res.Addresses, tt.want) || len(addrs) != len(tt.want) {
				t.Errorf("addresses %v, want %v", res.Addresses, tt.want)
			}
			if r.calls != tt.lookups || res.NotFound != tt.notFound || (res.Error != "") != tt.wantError {
				t.Errorf("lookups %d notFound %v error %q", r.calls, res.NotFound, res.Error)
			}
		})
	}
}
