package occ_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"

	occ "."
)

// The tests run in a database of their own (PGHOST, PGPORT, PGUSER as libpq reads them).
var dbURL string

func TestMain(m *testing.M) {
	ctx := context.Background()
	name := fmt.Sprintf("occ_go_%d", os.Getpid())
	admin, err := pgx.Connect(ctx, "dbname=postgres")
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
	if _, err = admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		fmt.Fprintln(os.Stderr, "create database:", err)
		os.Exit(1)
	}
	dbURL = "dbname=" + name
	code := 1
	if err = setUp(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "set-up:", err)
	} else {
		code = m.Run()
	}
	_, _ = admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
	admin.Close(ctx)
	os.Exit(code)
}

func setUp(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		"CREATE EXTENSION occ",
		// the typical Go app: its own UPDATE ... WHERE version = $n, version_input 'ignore'
		"CREATE TABLE docs (id bigserial PRIMARY KEY, title text NOT NULL)",
		"SELECT occ_enable('docs')",
		// the app assigns the version it read: occ rejects a stale or missing one
		"CREATE TABLE tasks (id int PRIMARY KEY, title text NOT NULL)",
		"SELECT occ_enable('tasks', version_input => 'expected')",
		"CREATE TABLE things (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL)",
		"SELECT occ_enable('things')",
		"CREATE TABLE tags (id text PRIMARY KEY, name text NOT NULL)",
		"SELECT occ_enable('tags')",
		"CREATE TABLE lines (order_id int, line int, qty int NOT NULL, PRIMARY KEY (order_id, line))",
		"SELECT occ_enable('lines')",
	} {
		if _, err = conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// ---- the app's own code: a version column in plain SQL

// ErrStale is the app's error for a save that lost (0 rows matched its version).
var ErrStale = errors.New("stale doc")

type Doc struct {
	ID      int64
	Title   string
	Version int64
	Etag    string
}

func createDoc(ctx context.Context, db occ.Querier, title string) (Doc, error) {
	d := Doc{Title: title}
	err := db.QueryRow(ctx, "INSERT INTO docs (title) VALUES ($1) RETURNING id, version, etag", title).
		Scan(&d.ID, &d.Version, &d.Etag)
	return d, err
}

func getDoc(ctx context.Context, db occ.Querier, id int64) (Doc, error) {
	d := Doc{ID: id}
	err := db.QueryRow(ctx, "SELECT title, version, etag FROM docs WHERE id = $1", id).
		Scan(&d.Title, &d.Version, &d.Etag)
	return d, err
}

// saveDoc writes d if nobody changed it since it was read; occ bumps the version.
func saveDoc(ctx context.Context, db occ.Querier, d *Doc) error {
	err := db.QueryRow(ctx, "UPDATE docs SET title = $1 WHERE id = $2 AND version = $3 RETURNING version, etag",
		d.Title, d.ID, d.Version).Scan(&d.Version, &d.Etag)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrStale
	}
	return err
}

// saveTask, on a version_input 'expected' table, assigns the version it read: a
// stale one raises OC409 (with the current version in DETAIL), none at all OC428.
func saveTask(ctx context.Context, db occ.Querier, id int, title string, version int64) (int64, error) {
	err := db.QueryRow(ctx, "UPDATE tasks SET title = $1, version = $2 WHERE id = $3 RETURNING version",
		title, version, id).Scan(&version)
	return version, occ.Wrap(err)
}

// ---- the tests

func TestCreateThenUpdate(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	d, err := createDoc(ctx, db, "draft")
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 1 || d.Etag == "" {
		t.Fatalf("created %+v, want version 1 and an ETag", d)
	}
	etag := d.Etag
	d.Title = "final"
	if err = saveDoc(ctx, db, &d); err != nil {
		t.Fatal(err)
	}
	got, _ := getDoc(ctx, db, d.ID)
	if d.Version != 2 || got != d || d.Etag == etag {
		t.Fatalf("after the update: in memory %+v, stored %+v, old ETag %s", d, got, etag)
	}
}

func TestStaleSaveWritesNothing(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	created, _ := createDoc(ctx, db, "two")
	a, _ := getDoc(ctx, db, created.ID)
	b, _ := getDoc(ctx, db, created.ID)
	a.Title = "first"
	if err := saveDoc(ctx, db, &a); err != nil {
		t.Fatal(err)
	}
	b.Title = "second"
	if err := saveDoc(ctx, db, &b); !errors.Is(err, ErrStale) {
		t.Fatalf("stale save: %v, want ErrStale", err)
	}
	if got, _ := getDoc(ctx, db, created.ID); got != a {
		t.Fatalf("stored %+v, want the first save %+v", got, a)
	}
}

func TestPlainUpdateByAnotherWriterMakesTheSaveStale(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	d, _ := createDoc(ctx, db, "three")
	if _, err := db.Exec(ctx, "UPDATE docs SET title = 'by another writer' WHERE id = $1", d.ID); err != nil {
		t.Fatal(err)
	}
	d.Title = "mine"
	if err := saveDoc(ctx, db, &d); !errors.Is(err, ErrStale) {
		t.Fatalf("save after another writer: %v, want ErrStale", err)
	}
	if got, _ := getDoc(ctx, db, d.ID); got.Title != "by another writer" || got.Version != 2 {
		t.Fatalf("stored %+v, want the other writer's row at version 2", got)
	}
}

func TestExpectedModeStaleAndMissingVersion(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	if _, err := db.Exec(ctx, "INSERT INTO tasks (id, title) VALUES (1, 'one')"); err != nil {
		t.Fatal(err)
	}
	v, err := saveTask(ctx, db, 1, "first", 1)
	if err != nil || v != 2 {
		t.Fatalf("save at version 1: %d, %v", v, err)
	}
	_, err = saveTask(ctx, db, 1, "stale", 1)
	var oe *occ.Error
	if !errors.Is(err, occ.ErrConflict) || !errors.As(err, &oe) {
		t.Fatalf("stale save: %v, want an occ conflict", err)
	}
	if oe.Status != 409 || oe.Detail.CurrentVersion == nil || *oe.Detail.CurrentVersion != 2 {
		t.Fatalf("stale save: %+v, want 409 at current version 2", oe)
	}
	_, err = db.Exec(ctx, "UPDATE tasks SET title = 'unversioned' WHERE id = 1")
	if !errors.Is(occ.Wrap(err), occ.ErrVersionRequired) {
		t.Fatalf("unversioned UPDATE: %v, want OC428", err)
	}
	var title string
	if err = db.QueryRow(ctx, "SELECT title FROM tasks WHERE id = 1").Scan(&title); err != nil || title != "first" {
		t.Fatalf("stored %q (%v), want \"first\"", title, err)
	}
}

// Every id-taking function with plain bind parameters: Go strings, which pgx sends
// as text with the type left to the server.
func TestUntypedParameters(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	d, _ := createDoc(ctx, db, "untyped")
	id := fmt.Sprint(d.ID)
	row := map[string]interface{}{}
	scan := func(q string, args ...interface{}) {
		t.Helper()
		row = nil
		if err := db.QueryRow(ctx, q, args...).Scan(&row); err != nil {
			t.Fatalf("%s %v: %v", q, args, err)
		}
	}
	// a Go int is not a string: the server asks for text, which pgx will not make of
	// an int, so the call fails before it is sent (pass a string, or cast: $2::bigint)
	var pe *pgconn.PgError
	if err := db.QueryRow(ctx, "SELECT occ_update($1, $2, $3, $4)", "docs", d.ID, 1, "{}").Scan(&row); err == nil || errors.As(err, &pe) {
		t.Fatalf("a Go int for an untyped id: %v, want pgx's encoding error", err)
	}
	scan("SELECT occ_update($1, $2, $3, $4)", "docs", id, "1", `{"title": "int key"}`)
	if row["title"] != "int key" || row["version"] != 2.0 {
		t.Fatalf("occ_update: %v", row)
	}
	scan("SELECT occ_update_if_match($1, $2, $3, $4)", "docs", id, `"`+row["etag"].(string)+`"`, `{"title": "if match"}`)
	if row["title"] != "if match" {
		t.Fatalf("occ_update_if_match: %v", row)
	}
	scan("SELECT occ_try_update($1, $2, $3, $4)", "docs", id, "1", `{"title": "stale"}`)
	if row["status"] != "conflict" || row["current_version"] != 3.0 {
		t.Fatalf("occ_try_update: %v", row)
	}
	scan("SELECT occ_delete($1, $2, $3)", "docs", id, "3")
	if row["title"] != "if match" {
		t.Fatalf("occ_delete: %v", row)
	}

	var uuid string
	if err := db.QueryRow(ctx, "INSERT INTO things (name) VALUES ('thing') RETURNING id::text").Scan(&uuid); err != nil {
		t.Fatal(err)
	}
	scan("SELECT occ_update($1, $2, $3, $4)", "things", uuid, "1", `{"name": "uuid key"}`)
	if row["name"] != "uuid key" {
		t.Fatalf("occ_update (uuid): %v", row)
	}
	scan("SELECT occ_delete_if_match($1, $2, $3)", "things", uuid, "*")
	if row["name"] != "uuid key" {
		t.Fatalf("occ_delete_if_match (uuid): %v", row)
	}

	if _, err := db.Exec(ctx, "INSERT INTO tags VALUES ('t-1', 'tag'); INSERT INTO lines VALUES (7, 2, 1)"); err != nil {
		t.Fatal(err)
	}
	scan("SELECT occ_update($1, $2, $3, $4)", "tags", "t-1", "1", `{"name": "text key"}`)
	if row["name"] != "text key" {
		t.Fatalf("occ_update (text): %v", row)
	}
	scan("SELECT occ_update($1, $2, $3, $4)", "lines", `{"order_id": 7, "line": 2}`, "1", `{"qty": 3}`)
	if row["qty"] != 3.0 {
		t.Fatalf("occ_update (composite): %v", row)
	}
}

// The package's helpers send the same plain parameters, whatever the key's Go type.
func TestHelpers(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	d, _ := createDoc(ctx, db, "helpers")
	row, err := occ.Update(ctx, db, "docs", d.ID, d.Version, map[string]interface{}{"title": "helper"})
	if err != nil || row["title"] != "helper" {
		t.Fatalf("Update: %v, %v", row, err)
	}
	res, err := occ.TryUpdate(ctx, db, "docs", d.ID, d.Version, map[string]interface{}{"title": "stale"})
	if err != nil || res["status"] != "conflict" {
		t.Fatalf("TryUpdate: %v, %v", res, err)
	}
	row, err = occ.UpdateIfMatch(ctx, db, "docs", d.ID, row["etag"].(string), `{"title": "etag"}`)
	if err != nil || row["version"] != 3.0 {
		t.Fatalf("UpdateIfMatch: %v, %v", row, err)
	}
	if _, err = occ.DeleteIfMatch(ctx, db, "docs", d.ID, "nope"); !errors.Is(err, occ.ErrConflict) {
		t.Fatalf("DeleteIfMatch with a wrong ETag: %v, want a conflict (OC412)", err)
	}
	if _, err = occ.Delete(ctx, db, "docs", d.ID, 3); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err = occ.Update(ctx, db, "lines", map[string]int{"order_id": 7, "line": 404}, 1, `{"qty": 1}`)
	if !errors.Is(err, occ.ErrNotFound) {
		t.Fatalf("Update of a missing composite key: %v, want OC404", err)
	}
}

// Typed calls (an explicit cast in the SQL) keep working as before.
func TestTypedParameters(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	d, _ := createDoc(ctx, db, "typed")
	var row map[string]interface{}
	err := db.QueryRow(ctx, "SELECT occ_update('docs', $1::bigint, $2, $3)", d.ID, d.Version,
		map[string]interface{}{"title": "typed"}).Scan(&row)
	if err != nil || row["title"] != "typed" {
		t.Fatalf("typed occ_update: %v, %v", row, err)
	}
}

// SQLSTATE, DETAIL (JSON) and HINT from *pgconn.PgError, and the typed mapping.
func TestErrorFields(t *testing.T) {
	ctx, db := context.Background(), connect(t)
	d, _ := createDoc(ctx, db, "errors")
	var row map[string]interface{}
	err := db.QueryRow(ctx, "SELECT occ_update('docs', $1::bigint, $2, $3)", d.ID, d.Version+5,
		`{"title": "stale"}`).Scan(&row)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "OC409" {
		t.Fatalf("stale occ_update: %v, want OC409", err)
	}
	var detail map[string]interface{}
	if err := json.Unmarshal([]byte(pe.Detail), &detail); err != nil {
		t.Fatalf("DETAIL %q: %v", pe.Detail, err)
	}
	want := map[string]interface{}{"table": "public.docs", "key": float64(d.ID),
		"expected_version": float64(d.Version + 5), "current_version": float64(d.Version), "current_etag": d.Etag}
	for k, v := range want {
		if detail[k] != v {
			t.Errorf("DETAIL %s = %v, want %v", k, detail[k], v)
		}
	}
	if pe.Hint != "Re-read the row and retry with its current version." {
		t.Errorf("HINT %q", pe.Hint)
	}
	oe := occ.FromError(err)
	if oe == nil || oe.Status != 409 || !errors.Is(oe, occ.ErrConflict) || errors.Is(oe, occ.ErrNotFound) ||
		*oe.Detail.CurrentVersion != d.Version || *oe.Detail.CurrentEtag != d.Etag || string(oe.Detail.Key) != fmt.Sprint(d.ID) {
		t.Errorf("mapped: %+v", oe)
	}
	if got, _ := getDoc(ctx, db, d.ID); got != d {
		t.Errorf("stored %+v, want it unchanged %+v", got, d)
	}
	if occ.FromError(errors.New("other")) != nil || occ.FromError(nil) != nil {
		t.Error("FromError maps an error that is not occ's")
	}
}
