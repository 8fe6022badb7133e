package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrUnavailable wraps every error of a store call that failed because the
// database did not answer in time or could not be reached: the call may
// succeed when retried later. Callers branch on it to retry with backoff
// and to count a job as skipped rather than failed.
var ErrUnavailable = errors.New("store unavailable")

// call starts the public store call named op. The returned context carries
// the store's deadline (Options.Timeout) unless the caller's is sooner;
// done, deferred with the call's named error, releases it, marks an
// unreachable database with ErrUnavailable and reports the failure to
// Options.OnError.
//
//	func (s *Store) X(ctx context.Context) (err error) {
//		ctx, done := s.call(ctx, "x")
//		defer done(&err)
func (s *Store) call(ctx context.Context, op string) (context.Context, func(*error)) {
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	return cctx, func(errp *error) {
		timedOut := errors.Is(cctx.Err(), context.DeadlineExceeded)
		cancel()
		if *errp == nil {
			return
		}
		if timedOut && !errors.Is(*errp, context.DeadlineExceeded) {
			// Some drivers fail a cut-off statement with an error of their own.
			*errp = fmt.Errorf("%w (%w)", *errp, context.DeadlineExceeded)
		}
		*errp = s.fail(ctx, op, *errp)
	}
}

// fail classifies err, the failure of op called with the caller's ctx, and
// reports it to OnError unless the caller caused it.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if unavailable(err) && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if s.onError == nil || callerError(ctx, err) {
		return err
	}
	s.onError(op, err)
	return err
}

// callerError reports whether err is the caller's doing, not the store's:
// input the store refused, or the caller's own cancellation.
func callerError(ctx context.Context, err error) bool {
	for _, e := range []error{ErrNotFound, ErrExists, ErrInvalid, ErrInUse, ErrNoStore} {
		if errors.Is(err, e) {
			return true
		}
	}
	return errors.Is(ctx.Err(), context.Canceled)
}

// unavailable reports whether err means the database did not answer in time
// or could not be reached (as opposed to refusing a statement).
func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.Timeout(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 08: connection exception; 53: insufficient resources; 57P:
		// operator intervention (shutdown, cannot connect now).
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") || strings.HasPrefix(pgErr.Code, "57P")
	}
	return false
}

// Ping checks that the database answers within the store's deadline: the
// daemon's samlkeyd_store_up. Its op name is "ping".
func (s *Store) Ping(ctx context.Context) (err error) {
	ctx, done := s.call(ctx, "ping")
	defer done(&err)
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}
