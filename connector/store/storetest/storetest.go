// Package storetest gives tests a connector database: a SQLite file by
// default, or, with TDSC_TEST_POSTGRES set to a PostgreSQL URL whose role
// may create databases, a fresh PostgreSQL database per test (dropped when
// the test ends), so the same tests run against both. scripts/postgres-test.sh
// starts a server on loopback and runs the connector's tests that way.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// Env names the variable holding the PostgreSQL URL the tests create their
// databases through.
const Env = "TDSC_TEST_POSTGRES"

// Postgres reports whether tests run against PostgreSQL.
func Postgres() bool { return os.Getenv(Env) != "" }

var (
	mu    sync.Mutex
	byKey = map[string]string{}
)

// Path is the database for key, a SQLite file path in a test's temp dir: the
// path itself, or the URL of a PostgreSQL database made for it on first use
// (the same key gives the same database, so a node reopened on its directory
// finds its state).
func Path(t testing.TB, key string) string {
	t.Helper()
	admin := os.Getenv(Env)
	if admin == "" {
		return key
	}
	mu.Lock()
	defer mu.Unlock()
	if u, ok := byKey[key]; ok {
		return u
	}
	var b [6]byte
	rand.Read(b[:])
	name := "tdsc_t_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(context.Background(), `CREATE DATABASE `+name); err != nil {
		t.Fatalf("%s: create database %s: %v", Env, name, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	u.Path = "/" + name
	byKey[key] = u.String()
	return byKey[key]
}
