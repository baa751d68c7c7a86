# frozen_string_literal: true

# occ for Active Record (Rails 6.1 and later): turns occ's SQLSTATEs into
# Active Record's own exceptions, with the JSON DETAIL parsed.
#
#   OC409, OC412 -> Occ::StaleObjectError      (an ActiveRecord::StaleObjectError)
#   OC404        -> Occ::NotFound              (an ActiveRecord::RecordNotFound)
#   OC428        -> Occ::PreconditionRequired  (an ActiveRecord::StatementInvalid)
#
# Each carries sqlstate, status (the HTTP status: the SQLSTATE's last three
# digits), detail (a Hash), hint and the PG::Error as pg_error.  Call Occ.install
# once at boot (an initializer).

require "json"
require "active_record"

module Occ
  # What every occ error carries, read from the PG::Error's result.
  module Error
    attr_reader :sqlstate, :detail, :hint, :pg_error

    def status
      sqlstate[2..].to_i
    end

    def current_version
      detail["current_version"]
    end

    def current_etag
      detail["current_etag"]
    end

    def conflicting_fields
      detail["conflicting_fields"]
    end

    private

    def occ_fields(pg_error)
      result = pg_error.result
      @pg_error = pg_error
      @sqlstate = result.error_field(PG::PG_DIAG_SQLSTATE)
      @hint = result.error_field(PG::PG_DIAG_MESSAGE_HINT)
      raw = result.error_field(PG::PG_DIAG_MESSAGE_DETAIL)
      @detail = raw ? JSON.parse(raw) : {}
    rescue JSON::ParserError
      @detail = {}
    end
  end

  # OC409 (version conflict) and OC412 (ETag mismatch).
  class StaleObjectError < ActiveRecord::StaleObjectError
    include Error

    def initialize(pg_error)
      super()
      occ_fields(pg_error)
      @message = pg_error.result.error_field(PG::PG_DIAG_MESSAGE_PRIMARY)
    end

    def message
      @message
    end
  end

  # OC404: no such row (or row-level security hides it).
  class NotFound < ActiveRecord::RecordNotFound
    include Error

    def initialize(pg_error)
      occ_fields(pg_error)
      super(pg_error.result.error_field(PG::PG_DIAG_MESSAGE_PRIMARY))
    end
  end

  # OC428: an UPDATE that did not assign the version (version_input 'expected'/'next').
  class PreconditionRequired < ActiveRecord::StatementInvalid
    include Error

    def initialize(pg_error, sql: nil, binds: nil)
      occ_fields(pg_error)
      super(pg_error.result.error_field(PG::PG_DIAG_MESSAGE_PRIMARY), sql: sql, binds: binds)
    end
  end

  # The occ error class for a PG::Error, or nil when it is not one of occ's.
  def self.from_pg_error(pg_error, sql: nil, binds: nil)
    return nil unless pg_error.respond_to?(:result) && pg_error.result

    case pg_error.result.error_field(PG::PG_DIAG_SQLSTATE)
    when "OC409", "OC412" then StaleObjectError.new(pg_error)
    when "OC404" then NotFound.new(pg_error)
    when "OC428" then PreconditionRequired.new(pg_error, sql: sql, binds: binds)
    end
  end

  # Prepended to the PostgreSQL adapter: its translate_exception is where Active
  # Record turns a PG::Error into its own exception classes.
  module TranslateException
    private

    def translate_exception(exception, message:, sql:, binds:)
      Occ.from_pg_error(exception, sql: sql, binds: binds) || super
    end
  end

  # Installs the translation.  Rails 6.1 runs no load hook for the PostgreSQL
  # adapter (:active_record_postgresqladapter exists from Rails 7.1 on), so this
  # hooks :active_record, which every Rails version runs, and loads the adapter.
  def self.install
    ActiveSupport.on_load(:active_record) do
      require "active_record/connection_adapters/postgresql_adapter"
      adapter = ActiveRecord::ConnectionAdapters::PostgreSQLAdapter
      adapter.prepend(Occ::TranslateException) unless adapter <= Occ::TranslateException
    end
  end
end
