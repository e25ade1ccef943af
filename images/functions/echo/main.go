// Command echo returns the request body, or "ok\n" when it is empty. With `?secret=NAME` it
// returns the sha256 (hex) of the OpenFaaS secret file /var/openfaas/secrets/NAME instead, so a
// test can prove the function read the secret without the value ever leaving it.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"faasbed.io/functions/contract"
)

// SecretsDir is where OpenFaaS mounts a function's secrets.
const SecretsDir = "/var/openfaas/secrets"

func handle(r *http.Request) contract.Response {
	if name := r.URL.Query().Get("secret"); name != "" {
		return secretDigest(name)
	}
	body, errResp := contract.ReadBody(r, contract.MaxBody)
	if errResp != nil {
		return *errResp
	}
	if len(body) == 0 {
		return contract.Text(http.StatusOK, "ok\n")
	}
	return contract.Response{Status: http.StatusOK, ContentType: "application/octet-stream", Body: body}
}

// secretDigest answers the sha256 of secret `name`, 404 when it is not mounted.
func secretDigest(name string) contract.Response {
	if strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") {
		return contract.Text(http.StatusBadRequest, "secret name must be a plain file name\n")
	}
	b, err := os.ReadFile(filepath.Join(SecretsDir, name))
	if err != nil {
		return contract.Text(http.StatusNotFound, "secret "+name+" is not mounted in "+SecretsDir+"\n")
	}
	sum := sha256.Sum256(b)
	return contract.Text(http.StatusOK, hex.EncodeToString(sum[:])+"\n")
}

func main() { contract.Main("echo", handle) }
