package queue

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestCheckNameRefusesInvisibleRunes checks that names, ids and queue names
// that would print the same as another, or not at all, are refused with an
// error that names the rune and what is allowed.
func TestCheckNameRefusesInvisibleRunes(t *testing.T) {
	for _, tc := range []struct {
		name, s string
		slash   bool
		kind    string // in the error; "" means accepted
	}{
		{"plain", "embed.document-v2_ü", false, ""},
		{"slash in name", "tenant/embed", true, ""},
		{"symbol", "emoji-🚀", false, ""},
		{"right-to-left override", "invoice\u202Efdp.exe", true, "invisible format character"},
		{"zero width space", "embed\u200B", false, "invisible format character"},
		{"byte order mark", "\uFEFFembed", false, "invisible format character"},
		{"soft hyphen", "em\u00ADbed", false, "invisible format character"},
		{"no-break space", "em\u00A0bed", false, "a space"},
		{"ideographic space", "em\u3000bed", false, "a space"},
		{"line separator", "em\u2028bed", true, "a space"},
		{"private use", "em\uE000bed", true, "not a printable character"},
		{"unassigned", "em\U000EFFFDbed", true, "not a printable character"},
		{"control", "em\x7fbed", true, "a control character"},
		{"space", "em bed", true, "a space"},
		{"slash in id", "a/b", false, "a slash"},
		{"dot id", ".", false, "relative path segment"},
		{"dot dot id", "..", false, "relative path segment"},
		{"dot name", ".", true, ""},
		{"three dots id", "...", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkName("task id", tc.s, tc.slash)
			if tc.kind == "" {
				if err != nil {
					t.Fatalf("checkName(%q) = %v, want nil", tc.s, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("checkName(%q) = %v, want ErrInvalidArgument", tc.s, err)
			}
			if !strings.Contains(err.Error(), tc.kind) || !strings.Contains(err.Error(), "task id") {
				t.Fatalf("checkName(%q) = %q, want it to name the field and say %q", tc.s, err, tc.kind)
			}
		})
	}
}

// FuzzCheckName checks what an accepted name guarantees: 1 to 256 bytes of
// UTF-8 with no rune that is invisible, a space or a control character,
// and (for ids and queue names) a single URL path segment that survives
// escaping and path cleaning unchanged. Refusals wrap ErrInvalidArgument.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "embed", "a/b", ".", "..", "\u202E", "x\u200By", "\uFEFF", "\xff", " ", strings.Repeat("é", 129)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, slash bool) {
		err := checkName("task id", s, slash)
		if err != nil {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("checkName(%q) = %v, want ErrInvalidArgument", s, err)
			}
			return
		}
		if s == "" || len(s) > maxNameLen || !utf8.ValidString(s) {
			t.Fatalf("checkName(%q) accepted a name of %d bytes or bad UTF-8", s, len(s))
		}
		for _, r := range s {
			if unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) || unicode.IsControl(r) || !unicode.IsGraphic(r) {
				t.Fatalf("checkName(%q) accepted %U", s, r)
			}
		}
		if slash {
			return
		}
		if got, err := url.PathUnescape(url.PathEscape(s)); err != nil || got != s {
			t.Fatalf("id %q does not survive URL escaping: %q, %v", s, got, err)
		}
		if p := "/tasks/" + s; path.Clean(p) != p {
			t.Fatalf("id %q: path %q cleans to %q, a Location that cannot be followed", s, p, path.Clean(p))
		}
	})
}

// TestCheckQueueName: the exported check is the one Client and Worker use,
// so brokers refuse exactly the names the queue package refuses.
func TestCheckQueueName(t *testing.T) {
	for _, name := range []string{"default", "emails-eu", "ünïcode"} {
		if err := CheckQueueName(name); err != nil {
			t.Errorf("CheckQueueName(%q) = %v; want nil", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", "a/b", "a b", "a\u202eb", "\u200b", strings.Repeat("q", 257)} {
		err := CheckQueueName(name)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("CheckQueueName(%q) = %v; want an error wrapping ErrInvalidArgument", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), "queue name") {
			t.Errorf("CheckQueueName(%q) = %q; want it to name the queue name", name, err)
		}
	}
}
