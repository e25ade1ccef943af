// Command echo returns the request body, or "ok\n" when it is empty.
package main

import (
	"net/http"

	"faasbed.io/functions/contract"
)

func handle(r *http.Request) contract.Response {
	body, errResp := contract.ReadBody(r, contract.MaxBody)
	if errResp != nil {
		return *errResp
	}
	if len(body) == 0 {
		return contract.Text(http.StatusOK, "ok\n")
	}
	return contract.Response{Status: http.StatusOK, ContentType: "application/octet-stream", Body: body}
}

func main() { contract.Main("echo", handle) }
