# frozen_string_literal: true

# A database of its own for the test run, with occ installed.  Connection
# settings come from libpq's environment (PGHOST, PGPORT, PGUSER), as
# scripts/test.sh sets them for its throwaway cluster; the database is dropped
# when the tests are done.

require "pg"
require "securerandom"

module OccTestDatabase
  def self.admin(sql)
    conn = PG.connect(dbname: ENV.fetch("OCC_ADMIN_DB", "postgres"))
    conn.exec(sql)
  ensure
    conn&.close
  end

  def self.create(prefix)
    name = "#{prefix}_#{Process.pid}_#{SecureRandom.hex(4)}"
    admin(%(CREATE DATABASE "#{name}"))
    conn = PG.connect(dbname: name)
    conn.exec("CREATE EXTENSION occ")
    conn.close
    name
  end

  def self.drop(name)
    admin(%(DROP DATABASE IF EXISTS "#{name}" WITH (FORCE)))
  end
end
