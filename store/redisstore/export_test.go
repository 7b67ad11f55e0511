package redisstore

// Internals exposed to the external tests (fuzz targets of the codecs).
var (
	Encode          = encode
	Decode          = decode
	ParseRevocation = parseRevocation
	ParseClusterURL = parseClusterURL
	RedactURL       = redactURL
)
