package pgstore

// CheckURL reports whether url is a PostgreSQL URL or DSN that Open could
// use, without connecting. Its error never carries the URL's password.
func CheckURL(url string) error {
	_, err := poolConfig(url, newConfig(nil))
	return err
}
