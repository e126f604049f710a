package registrytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"
)

// PushSchema1 uploads an image with a signed Docker schema1 manifest (the
// format of registries before 2016) under repo:tag, and returns the
// manifest's digest. The registry is configured to accept schema1 pushes.
func (r *Registry) PushSchema1(t testing.TB, repo, tag string) string {
	t.Helper()
	layer, _ := makeLayer(t, map[string]string{"tag.txt": tag})
	r.PushBlob(t, repo, layer)
	v1, _ := json.Marshal(map[string]any{
		"id":           "4f0e5c0d0f5e1f0a6c5b8e0c8f6e2d8a3b6c1d4e5f60718293a4b5c6d7e8f901",
		"created":      time.Date(2015, 9, 11, 14, 26, 2, 0, time.UTC),
		"architecture": "amd64",
		"os":           "linux",
	})
	payload, err := json.MarshalIndent(map[string]any{
		"schemaVersion": 1,
		"name":          repo,
		"tag":           tag,
		"architecture":  "amd64",
		"fsLayers":      []map[string]string{{"blobSum": Digest(layer)}},
		"history":       []map[string]string{{"v1Compatibility": string(v1)}},
	}, "", "   ")
	if err != nil {
		t.Fatal(err)
	}
	return r.PushManifest(t, repo, tag, MediaTypeSchema1Signed, signJWS(t, payload))
}

// signJWS signs a schema1 manifest the way libtrust does: the signature
// covers the manifest without its closing brace, which the protected header
// records (formatLength, formatTail) so that the payload can be rebuilt
// from the signed document.
func signJWS(t testing.TB, payload []byte) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	closing := bytes.LastIndexByte(payload, '}')
	formatLength := bytes.LastIndexFunc(payload[:closing], func(r rune) bool { return r != ' ' && r != '\n' && r != '\t' && r != '\r' }) + 1
	formatTail := payload[formatLength:]
	protectedJSON, _ := json.Marshal(map[string]any{
		"formatLength": formatLength,
		"formatTail":   b64(formatTail),
		"time":         time.Now().UTC().Format(time.RFC3339),
	})
	protected := b64(protectedJSON)
	signed := sha256.Sum256([]byte(protected + "." + b64(payload)))
	rr, ss, err := ecdsa.Sign(rand.Reader, key, signed[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := append(fixed(rr), fixed(ss)...)
	sigs, _ := json.MarshalIndent([]map[string]any{{
		"header": map[string]any{
			"jwk": map[string]string{"kty": "EC", "crv": "P-256", "x": b64(fixed(key.X)), "y": b64(fixed(key.Y))},
			"alg": "ES256",
		},
		"signature": b64(sig),
		"protected": protected,
	}}, "   ", "   ")
	var out bytes.Buffer
	out.Write(payload[:formatLength])
	out.WriteString(",\n   \"signatures\": ")
	out.Write(sigs)
	out.Write(formatTail)
	return out.Bytes()
}

// fixed is n as the 32 big-endian bytes of a P-256 coordinate.
func fixed(n *big.Int) []byte {
	b := make([]byte, 32)
	return n.FillBytes(b)
}
