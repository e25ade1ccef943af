// Command thumbnail decodes an image, shrinks it with an area-average (box) filter and encodes
// the thumbnail as PNG.
//
// The input is the request body (PNG or JPEG) or, when the body is empty, a w×h RGB picture made
// from query `seed` (see gen) and encoded as PNG first, so each call decodes a real file.
// Query: seed (default 1), w, h (16..2048, default 256), tw, th (1..w/h, default 64).
// The response says the sizes and the sha256 of the thumbnail's raw RGB bytes (row-major), which
// the Python twin reproduces exactly for generated inputs.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/color"
	_ "image/jpeg" // registers the JPEG decoder for request bodies
	"image/png"
	"net/http"

	"faasbed.io/functions/contract"
	"faasbed.io/functions/seed"
)

// result is the response body; *_bytes are encoded PNG sizes.
type result struct {
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	ThumbWidth   int    `json:"thumb_width"`
	ThumbHeight  int    `json:"thumb_height"`
	InputBytes   int    `json:"input_bytes"`
	ThumbBytes   int    `json:"thumb_bytes"`
	PixelsSHA256 string `json:"pixels_sha256"`
	Input        string `json:"input"`
}

// gen makes the seeded w×h picture: R = (x+r0) mod 256, G = (y+g0) mod 256,
// B = ((x xor y)+b0) mod 256, then 8 filled rectangles at seeded places in seeded colours.
func gen(s uint64, w, h int) *image.RGBA {
	rng := seed.New(s)
	r0, g0, b0 := int(rng.Below(256)), int(rng.Below(256)), int(rng.Below(256))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, color.RGBA{uint8(x + r0), uint8(y + g0), uint8((x ^ y) + b0), 255})
		}
	}
	for i := 0; i < 8; i++ {
		x0, y0 := int(rng.Below(uint64(w))), int(rng.Below(uint64(h)))
		rw, rh := 1+int(rng.Below(uint64(w/4+1))), 1+int(rng.Below(uint64(h/4+1)))
		c := rng.Below(1 << 24)
		col := color.RGBA{uint8(c >> 16), uint8(c >> 8), uint8(c), 255}
		for y := y0; y < y0+rh && y < h; y++ {
			for x := x0; x < x0+rw && x < w; x++ {
				img.SetRGBA(x, y, col)
			}
		}
	}
	return img
}

// box shrinks src to tw×th: each output pixel is the floor of the mean of the source pixels
// x in [ox*w/tw, (ox+1)*w/tw), y likewise. It returns raw RGB bytes, row-major.
func box(src image.Image, tw, th int) []byte {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]byte, 0, tw*th*3)
	for oy := 0; oy < th; oy++ {
		y0, y1 := oy*h/th, (oy+1)*h/th
		for ox := 0; ox < tw; ox++ {
			x0, x1 := ox*w/tw, (ox+1)*w/tw
			var sr, sg, sb, n uint64
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					r, g, bl, _ := src.At(b.Min.X+x, b.Min.Y+y).RGBA()
					sr, sg, sb, n = sr+uint64(r>>8), sg+uint64(g>>8), sb+uint64(bl>>8), n+1
				}
			}
			out = append(out, byte(sr/n), byte(sg/n), byte(sb/n))
		}
	}
	return out
}

// encodeRGB encodes raw RGB bytes of a w×h picture as PNG.
func encodeRGB(px []byte, w, h int) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < w*h; i++ {
		img.Pix[i*4], img.Pix[i*4+1], img.Pix[i*4+2], img.Pix[i*4+3] = px[i*3], px[i*3+1], px[i*3+2], 255
	}
	var buf bytes.Buffer
	err := png.Encode(&buf, img)
	return buf.Bytes(), err
}

func bad(err error) contract.Response { return contract.Text(http.StatusBadRequest, err.Error()+"\n") }

func handle(r *http.Request) contract.Response {
	body, errResp := contract.ReadBody(r, contract.MaxBody)
	if errResp != nil {
		return *errResp
	}
	input := "request body"
	if len(body) == 0 {
		s, err := seed.SeedParam(r)
		if err != nil {
			return bad(err)
		}
		w, err := seed.IntParam(r, "w", 256, 16, 2048)
		if err != nil {
			return bad(err)
		}
		h, err := seed.IntParam(r, "h", 256, 16, 2048)
		if err != nil {
			return bad(err)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, gen(s, w, h)); err != nil {
			return contract.Text(http.StatusInternalServerError, "cannot encode the generated png: "+err.Error()+"\n")
		}
		body, input = buf.Bytes(), "generated from seed"
	}
	src, _, err := image.Decode(bytes.NewReader(body))
	if err != nil {
		return contract.Text(http.StatusBadRequest, "cannot decode the image: "+err.Error()+"; send a PNG or JPEG, or no body to use a generated one\n")
	}
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	tw, err := seed.IntParam(r, "tw", min(64, w), 1, w)
	if err != nil {
		return bad(err)
	}
	th, err := seed.IntParam(r, "th", min(64, h), 1, h)
	if err != nil {
		return bad(err)
	}
	px := box(src, tw, th)
	thumb, err := encodeRGB(px, tw, th)
	if err != nil {
		return contract.Text(http.StatusInternalServerError, "cannot encode the thumbnail: "+err.Error()+"\n")
	}
	sum := sha256.Sum256(px)
	return contract.JSON(http.StatusOK, result{
		Width: w, Height: h, ThumbWidth: tw, ThumbHeight: th,
		InputBytes: len(body), ThumbBytes: len(thumb),
		PixelsSHA256: hex.EncodeToString(sum[:]), Input: input,
	})
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func main() { contract.Main("thumbnail", handle) }
