// Package occ is the Go (pgx v4) recipe for occ: its errors as one typed error with
// the DETAIL parsed, sentinels for errors.Is, and the occ_* calls with plain bind
// parameters (pgx sends a Go string as text, which occ reads by the key's type).
package occ

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
)

// Sentinels for errors.Is: ErrConflict for OC409 and OC412 (re-read and retry),
// ErrNotFound for OC404, ErrVersionRequired for OC428 (the code is wrong).
var (
	ErrConflict        = errors.New("occ: conflict")
	ErrNotFound        = errors.New("occ: not found")
	ErrVersionRequired = errors.New("occ: version required")
)

// Detail is the JSON DETAIL of an OC error; fields the server left out are nil.
type Detail struct {
	Table             string          `json:"table"`
	Key               json.RawMessage `json:"key"`
	ExpectedVersion   *int64          `json:"expected_version"`
	ExpectedEtag      *string         `json:"expected_etag"`
	CurrentVersion    *int64          `json:"current_version"`
	CurrentEtag       *string         `json:"current_etag"`
	ChangedFields     []string        `json:"changed_fields"`
	ConflictingFields []string        `json:"conflicting_fields"`
}

// Error is one of occ's errors (SQLSTATE OCnnn); Status is the HTTP status nnn.
type Error struct {
	Code    string
	Status  int
	Message string
	Hint    string
	Detail  Detail
	PgErr   *pgconn.PgError
}

func (e *Error) Error() string { return e.PgErr.Error() }
func (e *Error) Unwrap() error { return e.PgErr }

// Is makes errors.Is(err, ErrConflict) and its siblings work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrConflict:
		return e.Status == 409 || e.Status == 412
	case ErrNotFound:
		return e.Status == 404
	case ErrVersionRequired:
		return e.Status == 428
	}
	return false
}

// FromError returns the *Error in err's chain, or makes one of a *pgconn.PgError
// with an OC SQLSTATE; nil for any other error.
func FromError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) != 5 || !strings.HasPrefix(pe.Code, "OC") {
		return nil
	}
	status, convErr := strconv.Atoi(pe.Code[2:])
	if convErr != nil {
		return nil
	}
	oe = &Error{Code: pe.Code, Status: status, Message: pe.Message, Hint: pe.Hint, PgErr: pe}
	_ = json.Unmarshal([]byte(pe.Detail), &oe.Detail) // a DETAIL that is not JSON leaves it empty
	return oe
}

// Wrap returns err as an *Error when it is one of occ's, else unchanged.
func Wrap(err error) error {
	if oe := FromError(err); oe != nil {
		return oe
	}
	return err
}

// Querier is what *pgx.Conn, *pgxpool.Pool and pgx.Tx have in common here.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...interface{}) pgx.Row
}

// IDArg turns a key into the string pgx sends: ints and strings as text, a
// composite key (map or struct) as its JSON object.
func IDArg(id interface{}) (string, error) {
	switch v := id.(type) {
	case string:
		return v, nil
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v), nil
	case fmt.Stringer: // uuid types
		return v.String(), nil
	}
	b, err := json.Marshal(id)
	return string(b), err
}

// call runs one occ_* function with plain parameters and decodes its jsonb result.
func call(ctx context.Context, q Querier, fn string, args ...interface{}) (map[string]interface{}, error) {
	marks := make([]string, len(args))
	for i := range args {
		marks[i] = "$" + strconv.Itoa(i+1)
	}
	var row map[string]interface{}
	err := q.QueryRow(ctx, "SELECT "+fn+"("+strings.Join(marks, ", ")+")", args...).Scan(&row)
	return row, Wrap(err)
}

// Update is occ_update: the row after the change, or an *Error.
func Update(ctx context.Context, q Querier, table string, id interface{}, version int64, patch interface{}) (map[string]interface{}, error) {
	key, err := IDArg(id)
	if err != nil {
		return nil, err
	}
	return call(ctx, q, "occ_update", table, key, version, patch)
}

// UpdateIfMatch is occ_update_if_match (ifMatch: the ETag, bare or as the header has it).
func UpdateIfMatch(ctx context.Context, q Querier, table string, id interface{}, ifMatch string, patch interface{}) (map[string]interface{}, error) {
	key, err := IDArg(id)
	if err != nil {
		return nil, err
	}
	return call(ctx, q, "occ_update_if_match", table, key, ifMatch, patch)
}

// TryUpdate is occ_try_update: {"status", "row", "current_version", ...}, no conflict error.
func TryUpdate(ctx context.Context, q Querier, table string, id interface{}, version int64, patch interface{}) (map[string]interface{}, error) {
	key, err := IDArg(id)
	if err != nil {
		return nil, err
	}
	return call(ctx, q, "occ_try_update", table, key, version, patch)
}

// Delete is occ_delete: the deleted row, or an *Error.
func Delete(ctx context.Context, q Querier, table string, id interface{}, version int64) (map[string]interface{}, error) {
	key, err := IDArg(id)
	if err != nil {
		return nil, err
	}
	return call(ctx, q, "occ_delete", table, key, version)
}

// DeleteIfMatch is occ_delete_if_match.
func DeleteIfMatch(ctx context.Context, q Querier, table string, id interface{}, ifMatch string) (map[string]interface{}, error) {
	key, err := IDArg(id)
	if err != nil {
		return nil, err
	}
	return call(ctx, q, "occ_delete_if_match", table, key, ifMatch)
}
