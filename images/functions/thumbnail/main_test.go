package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"net/http/httptest"
	"testing"
)

func call(t *testing.T, target string, body []byte) (int, result) {
	t.Helper()
	resp := handle(httptest.NewRequest("POST", target, bytes.NewReader(body)))
	var r result
	if resp.Status == 200 {
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			t.Fatal(err)
		}
	}
	return resp.Status, r
}

func TestSeededThumbnailIsDeterministicAndSeedDependent(t *testing.T) {
	_, a := call(t, "/?seed=7&w=64&h=48&tw=16&th=12", nil)
	_, b := call(t, "/?seed=7&w=64&h=48&tw=16&th=12", nil)
	_, c := call(t, "/?seed=8&w=64&h=48&tw=16&th=12", nil)
	if a.PixelsSHA256 != b.PixelsSHA256 || a.PixelsSHA256 == c.PixelsSHA256 {
		t.Fatalf("same seed must give the same pixels, another seed others: %v %v %v", a, b, c)
	}
	if a.Width != 64 || a.Height != 48 || a.ThumbWidth != 16 || a.ThumbHeight != 12 || a.ThumbBytes == 0 {
		t.Fatalf("%+v", a)
	}
}

func TestBoxAveragesEachRegion(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	img.Pix = []byte{10, 20, 30, 255, 21, 40, 61, 255}
	if got := box(img, 1, 1); !bytes.Equal(got, []byte{15, 30, 45}) {
		t.Fatalf("box = %v, want the floor of the means [15 30 45]", got)
	}
}

func TestBodyPNGIsDecodedAndBadInputRefused(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, gen(3, 32, 32)); err != nil {
		t.Fatal(err)
	}
	st, r := call(t, "/?tw=8&th=8", buf.Bytes())
	_, g := call(t, "/?seed=3&w=32&h=32&tw=8&th=8", nil)
	if st != 200 || r.PixelsSHA256 != g.PixelsSHA256 || r.Input != "request body" {
		t.Fatalf("%d %+v vs %+v", st, r, g)
	}
	if st, _ := call(t, "/", []byte("not an image")); st != 400 {
		t.Fatalf("garbage body: %d", st)
	}
	if st, _ := call(t, "/?w=8", nil); st != 400 {
		t.Fatalf("w below 16: %d", st)
	}
	if st, _ := call(t, "/?w=32&tw=33", nil); st != 400 {
		t.Fatalf("tw above w: %d", st)
	}
}
