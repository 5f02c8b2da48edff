package api_test

import (
	"fmt"

	merrors "github.com/seedmicro/micro/core/errors"
	"github.com/seedmicro/micro/toolkit/api"
)

func ExampleParsePath() {
	for _, p := range []string{"/greeter/hello", "/greeter/say/hello", "/user-store/get-user", "/greeter/Greeter.Hello"} {
		svc, ep, _ := api.ParsePath(p)
		fmt.Println(p, "→", svc, ep)
	}
	// Output:
	// /greeter/hello → greeter Greeter.Hello
	// /greeter/say/hello → greeter Say.Hello
	// /user-store/get-user → user-store UserStore.GetUser
	// /greeter/Greeter.Hello → greeter Greeter.Hello
}

func ExampleHTTPStatus() {
	for _, c := range []merrors.Code{merrors.NotFound, merrors.InvalidArgument, merrors.DeadlineExceeded, merrors.Unavailable} {
		fmt.Println(c, api.HTTPStatus(c))
	}
	// Output:
	// not_found 404
	// invalid_argument 400
	// deadline_exceeded 504
	// unavailable 503
}
