package toolkittest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// ServeFuzzed serves h one request made of fuzzed parts, with header set,
// and returns the response; nil when the parts make no request that a
// client could send. An error status (4xx, 5xx) must come with a JSON
// error body ({"code": ...}): when jsonOnly, only a response that says it
// is JSON is held to it. Otherwise ServeFuzzed fails t.
func ServeFuzzed(t *testing.T, h http.Handler, method, path, body string, header http.Header, jsonOnly bool) *httptest.ResponseRecorder {
	t.Helper()
	req, err := http.NewRequest(method, "http://fuzz/", bytes.NewReader([]byte(body)))
	if err != nil {
		return nil
	}
	req.URL.Path = path
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	checked := !jsonOnly || w.Header().Get("Content-Type") == "application/json"
	if w.Code >= 400 && checked && !bytes.Contains(w.Body.Bytes(), []byte(`"code":`)) {
		t.Fatalf("%s %q: error %d without a JSON error body: %q", method, path, w.Code, w.Body.String())
	}
	return w
}
