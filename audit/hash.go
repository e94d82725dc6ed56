package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ChainHash is the hash an audit store stamps on r: sha256 over r's JSON
// with Hash cleared and PrevHash (the previous record's Hash) and Seq set.
// Changing any field of any record, or removing one, breaks the chain from
// there on; `portcheck audit verify` recomputes it.
func ChainHash(r Record) string {
	r.Hash = ""
	r.At = r.At.UTC()
	b, err := json.Marshal(r)
	if err != nil { // a Record has only strings, numbers and a time: cannot fail
		panic("audit: marshalling record: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
