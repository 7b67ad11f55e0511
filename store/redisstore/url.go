package redisstore

// CheckURL reports whether rawURL is a Redis URL that Open could use,
// without connecting: the scheme, the address list of a cluster, go-redis's
// own options. Its error never carries the URL's password.
func CheckURL(rawURL string) error {
	c, err := newClient(rawURL, 0)
	if err != nil {
		return err
	}
	return c.Close()
}
