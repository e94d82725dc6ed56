package authz_test

import (
	"fmt"

	"github.com/portcheck/portcheck/admission/authz"
)

func Example() {
	a, err := authz.New(authz.Config{
		Teams:  []string{"slack:T0ACME"},
		Check:  []string{"S0NETOPS"}, // a Slack user group id
		Admins: []string{"U0BOSS"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	alice := authz.Subject{Chat: "slack", Team: "T0ACME", Channel: "C1", User: "U1", Groups: []string{"S0NETOPS"}}
	bob := authz.Subject{Chat: "slack", Team: "T0ACME", Channel: "C1", User: "U2"}
	fmt.Println(a.Authorize(alice, authz.Check))
	fmt.Println(a.Authorize(bob, authz.Check))
	fmt.Println(a.Authorize(alice, authz.Audit))
	// Output:
	// {true authz.check}
	// {false authz.check: you need to be in one of these groups/roles: S0NETOPS}
	// {false authz.admins: only admins may query the whole audit trail}
}
