// Package account implements sessiond's built-in password accounts: email
// normalisation, password rules (NIST SP 800-63B: length only, no
// composition rules), argon2id hashing in the PHC string format, and a
// Service that signs users up and authenticates them without telling an
// unknown email apart from a wrong password.
//
// Accounts are kept by a Store; every backend in store/* implements it
// next to session.Store. The package account/accounttest states the Store
// contract as tests.
package account
