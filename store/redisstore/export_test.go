package redisstore

// Internals exposed to the external tests (fuzz targets of the codecs).
var (
	Encode          = encode
	Decode          = decode
	ParseRevocation = parseRevocation
	ParseClusterURL = parseClusterURL
	RedactURL       = redactURL
)

// DeleteScriptSHA names the script that deletes one session, so a test
// can make that step fail.
var DeleteScriptSHA = scriptDelete.Hash()
