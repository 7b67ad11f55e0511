module github.com/sessiond/sessiond/examples/shop-scs

go 1.26.0

require github.com/alexedwards/scs/v2 v2.9.0
