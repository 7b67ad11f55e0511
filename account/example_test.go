package account_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/store/memstore"
)

func ExampleNormalizeEmail() {
	email, err := account.NormalizeEmail("  Alice.Smith@Example.COM ")
	fmt.Println(email, err)
	_, err = account.NormalizeEmail("alice@bücher.example")
	fmt.Println(errors.Is(err, account.ErrInvalidEmail))
	// Output:
	// alice.smith@example.com <nil>
	// true
}

func ExampleService() {
	ctx := context.Background()
	svc := &account.Service{
		Store: memstore.New(),
		// Small parameters to keep the example fast; leave Params zero
		// (DefaultParams) in production.
		Params: account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	}
	if _, err := svc.Signup(ctx, "alice@example.com", "correct horse battery staple"); err != nil {
		fmt.Println(err)
		return
	}
	a, err := svc.Authenticate(ctx, "Alice@example.com", "correct horse battery staple")
	fmt.Println(a.Email, err)
	_, err = svc.Authenticate(ctx, "alice@example.com", "wrong")
	fmt.Println(err)
	_, err = svc.Authenticate(ctx, "nobody@example.com", "wrong")
	fmt.Println(err)
	// Output:
	// alice@example.com <nil>
	// account: bad credentials
	// account: bad credentials
}

func ExampleCheckPassword() {
	// A reference vector of phc-winner-argon2.
	const phc = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	ok, err := account.CheckPassword(phc, "password")
	fmt.Println(ok, err)
	_, err = account.CheckPassword("$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", "password")
	fmt.Println(errors.Is(err, account.ErrInvalidHash))
	// Output:
	// true <nil>
	// true
}
