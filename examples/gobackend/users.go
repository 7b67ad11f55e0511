package main

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"
)

// user is one of the application's own users. sessiond never sees their
// passwords: the application checks them and then tells sessiond who
// logged in.
type user struct {
	ID       string
	Username string
	Role     string
	Tenant   string
	hash     []byte // bcrypt
}

// users is the application's user table, in memory here; a real one is in
// its database.
type users struct {
	byName map[string]*user
	dummy  []byte // a hash to compare against for unknown usernames
}

// newUsers builds the table from list, hashing the password that password
// gives each user with bcrypt at cost (bcrypt.DefaultCost, or more, in
// production). Usernames must be unique.
func newUsers(list []user, password func(user) string, cost int) (*users, error) {
	u := &users{byName: map[string]*user{}}
	var err error
	if u.dummy, err = bcrypt.GenerateFromPassword([]byte(rand.Text()), cost); err != nil {
		return nil, err
	}
	for _, e := range list {
		if e.ID == "" || e.Username == "" || e.Role == "" {
			return nil, fmt.Errorf("user %q: id, username and role are required", e.Username)
		}
		if _, dup := u.byName[e.Username]; dup {
			return nil, fmt.Errorf("user %q listed twice", e.Username)
		}
		if e.hash, err = bcrypt.GenerateFromPassword([]byte(password(e)), cost); err != nil {
			return nil, fmt.Errorf("user %q: %w", e.Username, err)
		}
		u.byName[e.Username] = &e
	}
	return u, nil
}

// errBadCredentials is the one answer to a wrong username or password.
var errBadCredentials = errors.New("wrong username or password")

// authenticate returns the user whose username and password match. An
// unknown username costs the same bcrypt work as a wrong password and gets
// the same error, so logins cannot tell which usernames exist.
func (u *users) authenticate(username, password string) (*user, error) {
	found, ok := u.byName[username]
	hash := u.dummy
	if ok {
		hash = found.hash
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !ok {
		return nil, errBadCredentials
	}
	return found, nil
}
