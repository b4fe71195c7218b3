package auth

import (
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"strings"
)

// deepstream's PBKDF2 password format (protocol.md section 13):
//
//	stored = base64(pbkdf2(password, salt, iterations, keyLength, hash)) + salt
//
// where salt is the 24-character base64 text of 16 random bytes and that text,
// not the bytes it encodes, is the PBKDF2 salt. The hash prefix is
// 4*ceil(keyLength/3) characters long (standard base64 with padding).

// Defaults of deepstream's file auth options.
const (
	DefaultIterations = 100
	DefaultKeyLength  = 32
	// saltBytes is the number of random bytes behind a salt (24 base64 chars).
	saltBytes = 16
)

// hashes maps the digest names deepstream users write in `hash:` (Node's
// crypto names) to their constructors.
var hashes = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha224": sha256.New224,
	"sha256": sha256.New,
	"sha384": sha512.New384,
	"sha512": sha512.New,
}

// lookupHash returns the constructor for a digest name (case-insensitive).
func lookupHash(name string) (func() hash.Hash, error) {
	h, ok := hashes[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("auth: unknown hash %q (want md5, sha1, sha224, sha256, sha384 or sha512)", name)
	}
	return h, nil
}

// prefixLen is the length of the base64 hash in front of the salt.
func prefixLen(keyLength int) int { return 4 * ((keyLength + 2) / 3) }

func checkParams(iterations, keyLength int) error {
	if iterations < 1 {
		return fmt.Errorf("auth: iterations must be at least 1, got %d", iterations)
	}
	if keyLength < 1 {
		return fmt.Errorf("auth: keyLength must be at least 1, got %d", keyLength)
	}
	return nil
}

// derive returns base64(pbkdf2(password, salt, iterations, keyLength, h)).
func derive(h func() hash.Hash, password, salt string, iterations, keyLength int) (string, error) {
	key, err := pbkdf2.Key(h, password, []byte(salt), iterations, keyLength)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(key), nil
}

// Hash returns a users.yml password hash in deepstream's format for password,
// with a fresh random salt: base64(pbkdf2(password, salt, iterations,
// keyLength, hash)) + salt. hash is a digest name (md5, sha1, sha224, sha256,
// sha384, sha512). Safe for concurrent use.
func Hash(password, hash string, iterations, keyLength int) (string, error) {
	h, err := lookupHash(hash)
	if err != nil {
		return "", err
	}
	if err := checkParams(iterations, keyLength); err != nil {
		return "", err
	}
	var raw [saltBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	salt := base64.StdEncoding.EncodeToString(raw[:])
	key, err := derive(h, password, salt, iterations, keyLength)
	if err != nil {
		return "", err
	}
	return key + salt, nil
}

// Verify reports whether password matches stored, a hash in deepstream's
// format made with the given digest name, iterations and keyLength. The hash
// texts are compared in constant time. An unknown digest, bad parameters or a
// stored text shorter than the hash prefix give false. Safe for concurrent use.
func Verify(stored, password, hash string, iterations, keyLength int) bool {
	h, err := lookupHash(hash)
	if err != nil || checkParams(iterations, keyLength) != nil {
		return false
	}
	return verify(h, stored, password, iterations, keyLength)
}

func verify(h func() hash.Hash, stored, password string, iterations, keyLength int) bool {
	n := prefixLen(keyLength)
	if len(stored) < n {
		return false
	}
	got, err := derive(h, password, stored[n:], iterations, keyLength)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(stored[:n])) == 1
}

// checkStored reports whether stored has the shape of a hash made with
// keyLength: a base64 prefix encoding exactly keyLength bytes, then the salt.
func checkStored(stored string, keyLength int) bool {
	n := prefixLen(keyLength)
	if len(stored) < n {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(stored[:n])
	return err == nil && len(key) == keyLength
}

// HashMain implements `swiftlet hash [-hash sha256] [-iterations 100]
// [-keyLength 32] PASSWORD`: it prints the hash of PASSWORD in deepstream's
// users.yml format followed by a newline on stdout and returns 0. Usage
// errors go to stderr with exit code 2, hashing errors with exit code 1.
// The flags must match the `auth.options` of the server's configuration.
func HashMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("swiftlet hash", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hashName := fs.String("hash", "sha256", "PBKDF2 digest: md5, sha1, sha224, sha256, sha384 or sha512 (auth.options.hash)")
	iterations := fs.Int("iterations", DefaultIterations, "PBKDF2 iterations (auth.options.iterations)")
	keyLength := fs.Int("keyLength", DefaultKeyLength, "PBKDF2 key length in bytes (auth.options.keyLength)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: swiftlet hash [-hash sha256] [-iterations 100] [-keyLength 32] PASSWORD")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	out, err := Hash(fs.Arg(0), *hashName, *iterations, *keyLength)
	if err != nil {
		fmt.Fprintln(stderr, "swiftlet hash:", err)
		return 1
	}
	if _, err := fmt.Fprintln(stdout, out); err != nil {
		fmt.Fprintln(stderr, "swiftlet hash:", err)
		return 1
	}
	return 0
}
