//go:build cgo

package pkcs11

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ThalesGroup/crypto11"
	p11 "github.com/miekg/pkcs11"
)

// moduleMu serialises loading, initialising and finalising modules: a
// PKCS#11 module is process-global state (C_Initialize/C_Finalize), which
// crypto11 reference-counts per path and List initialises on its own.
var moduleMu sync.Mutex

// handle is an open crypto11 context on one token and the key found on it.
type handle struct {
	ctx    *crypto11.Context
	signer crypto11.Signer
}

// openHandle finds the one token the URI names, logs in, finds the key pair
// and, when the token holds one, the certificate with the same id/label.
func openHandle(o Options) (*handle, *x509.Certificate, error) {
	ctx, err := openContext(o)
	if err != nil {
		return nil, nil, err
	}
	h := &handle{ctx: ctx}
	signers, err := ctx.FindKeyPairs(o.URI.ID, labelBytes(o.URI.Object))
	if err != nil {
		h.close()
		return nil, nil, fmt.Errorf("find key pair: %w", classify(err))
	}
	switch len(signers) {
	case 0:
		h.close()
		return nil, nil, ErrKeyNotFound
	case 1:
	default:
		h.close()
		return nil, nil, fmt.Errorf("%d key pairs match: add id= to the URI (samlkeyd pkcs11 list shows the ids): %w", len(signers), ErrKeyNotFound)
	}
	h.signer = signers[0]
	cert, err := ctx.FindCertificate(o.URI.ID, labelBytes(o.URI.Object), nil)
	if err != nil {
		h.close()
		return nil, nil, fmt.Errorf("find certificate: %w", classify(err))
	}
	return h, cert, nil
}

// openContext opens a crypto11 context (session pool, logged in) on the one
// token matching o.URI.
func openContext(o Options) (*crypto11.Context, error) {
	maxSessions := o.MaxSessions
	if maxSessions < 2 {
		maxSessions = DefaultMaxSessions
	}
	moduleMu.Lock()
	defer moduleMu.Unlock()
	slot, id, loggedIn, err := findSlot(o.Module, o.URI)
	if err != nil {
		return nil, err
	}
	if loggedIn {
		// C_Login would answer CKR_USER_ALREADY_LOGGED_IN without
		// checking the PIN: compare it with the one that logged in.
		if err := logins.check(id, o.PIN); err != nil {
			return nil, fmt.Errorf("log in: %w", err)
		}
	}
	s := int(slot)
	ctx, err := crypto11.Configure(&crypto11.Config{
		Path:            o.Module,
		SlotNumber:      &s,
		Pin:             string(o.PIN.Reveal()),
		MaxSessions:     maxSessions,
		PoolWaitTimeout: o.PoolWait,
	})
	if err != nil {
		return nil, fmt.Errorf("log in: %w", classify(err))
	}
	if !loggedIn {
		logins.remember(id, o.PIN) // the token checked it
	}
	return ctx, nil
}

// findSlot returns the slot of the one token matching u's token
// attributes, the token's identity for logins, and whether this process is
// logged into it already. The caller holds moduleMu.
func findSlot(module string, u URI) (slot uint, id string, loggedIn bool, err error) {
	err = withModule(module, func(ctx *p11.Ctx) error {
		slots, err := ctx.GetSlotList(true)
		if err != nil {
			return fmt.Errorf("list slots: %w", classify(err))
		}
		var found []uint
		var info p11.TokenInfo
		for _, s := range slots {
			ti, err := ctx.GetTokenInfo(s)
			if err != nil {
				continue
			}
			if ti.Flags&p11.CKF_TOKEN_INITIALIZED != 0 && tokenMatches(u, ti) {
				found, info = append(found, s), ti
			}
		}
		switch len(found) {
		case 0:
			return fmt.Errorf("module %q: %w (samlkeyd pkcs11 list --module shows the tokens)", module, ErrTokenNotFound)
		case 1:
			slot, id = found[0], loginID(module, info.Label, info.SerialNumber)
			loggedIn = userLoggedIn(ctx, slot)
			return nil
		}
		return fmt.Errorf("module %q: %d tokens match: add serial= to the URI: %w", module, len(found), ErrTokenNotFound)
	})
	return slot, id, loggedIn, err
}

// userLoggedIn reports whether this process is logged into the token in
// slot as the user: a new session starts in the user state then.
func userLoggedIn(ctx *p11.Ctx, slot uint) bool {
	sh, err := ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		return false
	}
	defer func() { _ = ctx.CloseSession(sh) }()
	si, err := ctx.GetSessionInfo(sh)
	return err == nil && (si.State == p11.CKS_RO_USER_FUNCTIONS || si.State == p11.CKS_RW_USER_FUNCTIONS)
}

// withModule loads and initialises module for f, or reuses it when this
// process has it initialised already (crypto11 holds it), and finalises
// only what it initialised. The caller holds moduleMu.
func withModule(module string, f func(*p11.Ctx) error) error {
	ctx := p11.New(module)
	if ctx == nil {
		return fmt.Errorf("module %q: not found or not a PKCS#11 library: %w", module, ErrModule)
	}
	defer ctx.Destroy()
	err := ctx.Initialize()
	var code p11.Error
	already := errors.As(err, &code) && code == p11.CKR_CRYPTOKI_ALREADY_INITIALIZED
	if err != nil && !already {
		return fmt.Errorf("module %q: initialize: %v: %w", module, err, ErrModule)
	}
	if !already {
		defer func() { _ = ctx.Finalize() }()
	}
	return f(ctx)
}

func tokenMatches(u URI, ti p11.TokenInfo) bool {
	return (u.Token == "" || u.Token == ti.Label) &&
		(u.Manufacturer == "" || u.Manufacturer == ti.ManufacturerID) &&
		(u.Serial == "" || u.Serial == ti.SerialNumber) &&
		(u.Model == "" || u.Model == ti.Model)
}

func labelBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func (h *handle) public() crypto.PublicKey { return h.signer.Public() }

func (h *handle) close() {
	moduleMu.Lock()
	defer moduleMu.Unlock()
	_ = h.ctx.Close()
}

// check finds the key pair on the token again through a pooled session.
func (h *handle) check(u URI) error {
	found, err := h.ctx.FindKeyPairs(u.ID, labelBytes(u.Object))
	if err != nil {
		return classify(err)
	}
	for _, s := range found {
		if publicKeysEqual(s.Public(), h.public()) {
			return nil
		}
	}
	return ErrKeyNotFound
}

// destroy destroys the key pair and the certificates with u's id and label.
func (h *handle) destroy(u URI) error {
	if err := h.signer.Delete(); err != nil {
		return fmt.Errorf("destroy key pair: %w", classify(err))
	}
	if err := h.ctx.DeleteCertificate(u.ID, labelBytes(u.Object), nil); err != nil {
		return fmt.Errorf("destroy certificate: %w", classify(err))
	}
	return nil
}

func (h *handle) sign(digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := h.signer.Sign(nil, digest, opts)
	if err != nil {
		return nil, classify(err)
	}
	return sig, nil
}

func (h *handle) decrypt(r io.Reader, ct []byte, m decryptMode) ([]byte, error) {
	d, ok := h.signer.(crypto11.SignerDecrypter)
	if !ok {
		return nil, fmt.Errorf("key cannot decrypt: %w", ErrUnsupportedOpt)
	}
	if m.oaep != nil {
		pt, err := d.Decrypt(r, ct, m.oaep)
		return pt, classify(err)
	}
	if m.sessionKeyLen == 0 {
		pt, err := d.Decrypt(r, ct, nil)
		return pt, classify(err)
	}
	// Draw the substitute first so success and failure cost the same here.
	if r == nil {
		r = rand.Reader
	}
	subst := make([]byte, m.sessionKeyLen)
	if _, err := io.ReadFull(r, subst); err != nil {
		return nil, fmt.Errorf("random session key: %w", err)
	}
	pt, err := d.Decrypt(r, ct, nil)
	if err != nil {
		if err = classify(err); errors.Is(err, ErrTokenGone) {
			return nil, err
		}
		return subst, nil
	}
	if len(pt) != m.sessionKeyLen {
		clear(pt)
		return subst, nil
	}
	return pt, nil
}

// classify maps PKCS#11 return values callers branch on to this package's
// errors, keeping the code in the message.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var code p11.Error
	if !errors.As(err, &code) {
		return err
	}
	switch code {
	case p11.CKR_PIN_INCORRECT, p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE:
		return fmt.Errorf("%w (%v)", ErrWrongPIN, code)
	case p11.CKR_PIN_LOCKED:
		return fmt.Errorf("%w: unlock it with the SO PIN (%v)", ErrPINLocked, code)
	case p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_TOKEN_NOT_RECOGNIZED,
		p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_DEVICE_ERROR,
		p11.CKR_SLOT_ID_INVALID, p11.CKR_CRYPTOKI_NOT_INITIALIZED, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID:
		return fmt.Errorf("%w (%v)", ErrTokenGone, code)
	case p11.CKR_MECHANISM_INVALID, p11.CKR_MECHANISM_PARAM_INVALID, p11.CKR_ARGUMENTS_BAD:
		return fmt.Errorf("the token refused the mechanism or its parameters: %w (%v)", ErrUnsupportedOpt, code)
	}
	return err
}
