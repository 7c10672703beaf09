package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The HTML report opened in a real browser: headless Chromium (Debian
// package "chromium") renders it to a PNG and dumps the DOM it built. The
// test is skipped when no Chromium is found at $CHROMIUM or /usr/bin/chromium.
// With EXTMETRICS_REPORT_SCREENSHOT=<file> the screenshot is also copied
// there (that is how docs/img/report-example.png is made).

func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("headless Chromium test skipped in -short mode")
	}
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	t.Skip("chromium not found (set $CHROMIUM or install the Debian package chromium)")
	return ""
}

func runChromium(t *testing.T, bin, dir string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v (timeout %v)\nstderr:\n%s", bin, strings.Join(args, " "), err, ctx.Err(), lastLines(stderr.String(), 20))
	}
	return stdout.Bytes()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func TestHTMLInChromium(t *testing.T) {
	bin := chromiumPath(t)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, sampleReport()); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	// The DOM as the browser built it: SVG parsed as SVG, chart parts present.
	dom := runChromium(t, bin, dir, "--dump-dom", url)
	doc := parseHTML(t, dom)
	charts := findAll(doc, "svg", "chart")
	if len(charts) != 4 {
		t.Fatalf("browser DOM has %d svg.chart, want 4", len(charts))
	}
	for _, c := range charts {
		if len(findAll(c, "rect", "band")) != 1 || len(findAll(c, "path", "line")) != 1 {
			t.Errorf("chart %s lacks its band or line in the browser DOM", attr(c, "id"))
		}
	}
	if n := len(findAll(doc, "circle", "point", "fail")); n != 2 {
		t.Errorf("browser DOM has %d failed points, want 2", n)
	}
	if n := len(findAll(doc, "path", "point", "fail", "novalue")); n != 1 {
		t.Errorf("browser DOM has %d no-value marks, want 1", n)
	}
	if n := len(findAll(doc, "div", "verdict")); n != 2 {
		t.Errorf("browser DOM has %d verdict banners, want 2", n)
	}

	// A screenshot: a real picture, with the red of the failed check and
	// the green of the success banner / threshold band in it.
	shot := filepath.Join(dir, "shot.png")
	runChromium(t, bin, dir, "--screenshot="+shot, "--window-size=1200,1600", url)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 1600 {
		t.Errorf("screenshot is %v, want 1200x1600", b)
	}
	colours, red, green := pixelStats(img)
	if colours < 50 {
		t.Errorf("screenshot has only %d distinct colours: blank page?", colours)
	}
	if red < 30 {
		t.Errorf("screenshot has %d red pixels: the failed check should be marked red", red)
	}
	if green < 1000 {
		t.Errorf("screenshot has %d green pixels: verdict banner / threshold band missing?", green)
	}
	t.Logf("screenshot %d bytes, %d colours, %d red, %d green pixels", len(data), colours, red, green)
	if out := os.Getenv("EXTMETRICS_REPORT_SCREENSHOT"); out != "" {
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pixelStats counts distinct colours, pixels close to the report's red
// (#cf222e) and pixels of a clearly green hue.
func pixelStats(img image.Image) (colours, red, green int) {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			seen[[3]uint32{r, g, bl}] = true
			if r > 180 && g < 80 && bl < 90 {
				red++
			}
			if g > r+20 && g > bl+15 {
				green++
			}
		}
	}
	return len(seen), red, green
}
