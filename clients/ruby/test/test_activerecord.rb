# frozen_string_literal: true

# Active Record (Debian's Rails 6.1, ruby-pg) on occ-enabled tables, as
# examples/orders.rb sets them up: create then update with lock_version's
# DEFAULT 0, a stale save, a plain UPDATE by another writer, occ_update with plain
# bind parameters, occ's errors as Active Record exceptions with SQLSTATE, DETAIL
# and HINT, and what version_input 'next' refuses.

require "minitest/autorun"
require "active_support"

# The hook the README used to give: Rails 6.1 never runs it.
$occ_old_hook_ran = false
ActiveSupport.on_load(:active_record_postgresqladapter) { $occ_old_hook_ran = true }

require_relative "support"
require_relative "../examples/orders"

# The same model on a table enabled with version_input 'next'.
class StrictOrder < ActiveRecord::Base
end

DB_NAME = OccTestDatabase.create("occ_ruby")
Minitest.after_run do
  ActiveRecord::Base.remove_connection
  OccTestDatabase.drop(DB_NAME)
end
ActiveRecord::Base.establish_connection(adapter: "postgresql", database: DB_NAME)

class ActiveRecordTest < Minitest::Test
  def setup
    OrdersExample.create_table(Order.connection, :orders)
    OrdersExample.create_table(Order.connection, :strict_orders, version_input: "next")
    Order.reset_column_information
    StrictOrder.reset_column_information
    @other = PG.connect(dbname: DB_NAME) # another writer, outside Active Record
  end

  def teardown
    @other.close
  end

  # the row as the database has it
  def stored(table, id)
    @other.exec_params("SELECT qty, title, lock_version, etag FROM #{table} WHERE id = $1", [id]).first
  end

  def test_create_then_update_starts_at_the_column_default
    order = Order.create!(title: "desk", qty: 1)
    assert_equal 0, order.lock_version
    assert_equal "0", stored("orders", order.id)["lock_version"]
    etag = stored("orders", order.id)["etag"]
    refute_nil etag

    order.update!(qty: 2)
    assert_equal 1, order.lock_version
    row = stored("orders", order.id)
    assert_equal %w[2 1], [row["qty"], row["lock_version"]]
    refute_equal etag, row["etag"]
    order.update!(title: "standing desk")
    assert_equal "2", stored("orders", order.id)["lock_version"]
  end

  def test_an_insert_cannot_choose_the_version
    order = Order.create!(title: "forged", qty: 1, lock_version: 41)
    assert_equal "0", stored("orders", order.id)["lock_version"]
  end

  def test_stale_save_raises_and_writes_nothing
    a = Order.create!(title: "desk", qty: 1)
    b = Order.find(a.id)
    a.update!(qty: 3)
    before = stored("orders", a.id)
    assert_raises(ActiveRecord::StaleObjectError) { b.update!(qty: 4) }
    assert_equal before, stored("orders", a.id)
    assert_equal %w[3 1], [before["qty"], before["lock_version"]]
  end

  def test_a_plain_update_by_another_writer_makes_the_next_save_stale
    order = Order.create!(title: "desk", qty: 1)
    @other.exec_params("UPDATE orders SET qty = 9 WHERE id = $1", [order.id])
    assert_equal "1", stored("orders", order.id)["lock_version"]
    before = stored("orders", order.id)
    assert_raises(ActiveRecord::StaleObjectError) { order.update!(qty: 10) }
    assert_equal before, stored("orders", order.id)
    order.reload.update!(qty: 10)
    assert_equal %w[10 2], stored("orders", order.id).values_at("qty", "lock_version")
  end

  def test_occ_functions_take_plain_bind_parameters
    order = Order.create!(title: "desk", qty: 1)
    # exec_query binds: untyped parameters, the id an Integer or a String
    row = OrdersExample.patch(order.id, 0, { qty: 5 })
    assert_equal [5, 1], row.values_at("qty", "lock_version")
    row = OrdersExample.patch(order.id.to_s, "1", { title: "chair" })
    assert_equal ["chair", 2], row.values_at("title", "lock_version")
    # ruby-pg's exec_params sends untyped parameters too
    raw = Order.connection.raw_connection
    row = JSON.parse(raw.exec_params("SELECT occ_try_update($1, $2, $3, $4) AS r",
                                     ["orders", order.id, 2, '{"qty": 6}']).getvalue(0, 0))
    assert_equal "updated", row["status"]
    etag = stored("orders", order.id)["etag"]
    row = JSON.parse(raw.exec_params("SELECT occ_update_if_match($1, $2, $3, $4) AS r",
                                     ["orders", order.id, %("#{etag}"), '{"qty": 7}']).getvalue(0, 0))
    assert_equal [7, 4], row.values_at("qty", "lock_version")
    JSON.parse(raw.exec_params("SELECT occ_delete($1, $2, $3)", ["orders", order.id, 4]).getvalue(0, 0))
    assert_nil stored("orders", order.id)
    other = Order.create!(title: "lamp", qty: 1)
    assert_equal "lamp", OrdersExample.delete_if_match(other.id, "*")["title"]
    assert_nil stored("orders", other.id)
  end

  def test_occ_errors_become_active_record_exceptions_with_detail_and_hint
    order = Order.create!(title: "desk", qty: 1)
    OrdersExample.patch(order.id, 0, { qty: 2 })
    before = stored("orders", order.id)

    err = assert_raises(Occ::StaleObjectError) { OrdersExample.patch(order.id, 0, { qty: 3 }) }
    assert_kind_of ActiveRecord::StaleObjectError, err
    assert_equal "OC409", err.sqlstate
    assert_equal 409, err.status
    assert_equal({ "table" => "public.orders", "key" => order.id, "expected_version" => 0,
                   "current_version" => 1, "current_etag" => before["etag"] }, err.detail)
    assert_equal 1, err.current_version
    assert_match(/Re-read the row/, err.hint)
    assert_match(/version conflict on table "public.orders"/, err.message)
    assert_kind_of PG::Error, err.pg_error
    assert_equal before, stored("orders", order.id)

    err = assert_raises(Occ::StaleObjectError) { OrdersExample.delete_if_match(order.id, '"nope"') }
    assert_equal "OC412", err.sqlstate
    err = assert_raises(Occ::NotFound) { OrdersExample.patch(-1, 0, { qty: 3 }) }
    assert_kind_of ActiveRecord::RecordNotFound, err
    assert_equal "OC404", err.sqlstate
    assert_equal -1, err.detail["key"]

    # the same fields straight from ruby-pg: PG::Result#error_field
    pg_err = assert_raises(PG::Error) do
      @other.exec_params("SELECT occ_update($1, $2, $3, $4)", ["orders", order.id, 0, "{}"])
    end
    result = pg_err.result
    assert_equal "OC409", result.error_field(PG::PG_DIAG_SQLSTATE)
    assert_equal 1, JSON.parse(result.error_field(PG::PG_DIAG_MESSAGE_DETAIL))["current_version"]
    assert_match(/Re-read the row/, result.error_field(PG::PG_DIAG_MESSAGE_HINT))
  end

  def test_the_translation_is_installed_through_the_active_record_hook
    assert_operator ActiveRecord::ConnectionAdapters::PostgreSQLAdapter, :<=, Occ::TranslateException
    if ActiveRecord.version < Gem::Version.new("7.1")
      refute $occ_old_hook_ran, "Rails #{ActiveRecord.version} has no :active_record_postgresqladapter hook"
    end
    # other errors keep Active Record's own classes
    order = Order.create!(title: "desk")
    assert_raises(ActiveRecord::RecordNotUnique) { Order.create!(id: order.id, title: "again") }
  end

  def test_next_mode_create_then_update_and_stale_save
    order = StrictOrder.create!(title: "desk", qty: 1)
    assert_equal "0", stored("strict_orders", order.id)["lock_version"]
    order.update!(qty: 2)
    order.touch
    assert_equal %w[2 2], stored("strict_orders", order.id).values_at("qty", "lock_version")
    assert_equal 2, order.lock_version

    stale = StrictOrder.find(order.id)
    order.update!(qty: 3)
    before = stored("strict_orders", order.id)
    assert_raises(ActiveRecord::StaleObjectError) { stale.update!(qty: 4) }
    assert_equal before, stored("strict_orders", order.id)
  end

  def test_next_mode_refuses_writes_that_skip_the_version
    order = StrictOrder.create!(title: "desk", qty: 1)
    before = stored("strict_orders", order.id)
    [
      -> { order.update_columns(qty: 5) },
      -> { StrictOrder.where(id: order.id).update_all("qty = 5") },
      -> { @other.exec_params("UPDATE strict_orders SET qty = 5 WHERE id = $1", [order.id]) }
    ].each_with_index do |write, i|
      err = assert_raises(Occ::PreconditionRequired, PG::Error, "write #{i}") { write.call }
      sqlstate = err.is_a?(PG::Error) ? err.result.error_field(PG::PG_DIAG_SQLSTATE) : err.sqlstate
      assert_equal "OC428", sqlstate
      assert_equal before, stored("strict_orders", order.id)
    end
    # update_all with a Hash passes (Rails adds lock_version + 1), but loaded
    # instances keep their old lock_version: reload before saving them
    StrictOrder.where(id: order.id).update_all(qty: 5)
    assert_equal %w[5 1], stored("strict_orders", order.id).values_at("qty", "lock_version")
    assert_raises(ActiveRecord::StaleObjectError) { order.update!(title: "x") }
    order.reload
    # increment! passes too (update_counters adds lock_version + 1, and the
    # instance follows)
    order.increment!(:qty)
    assert_equal %w[6 2], stored("strict_orders", order.id).values_at("qty", "lock_version")
    order.update!(title: "x")
    assert_equal "3", stored("strict_orders", order.id)["lock_version"]
  end

  def test_the_example_runs
    example = File.expand_path("../examples/orders.rb", __dir__)
    out = IO.popen({ "PGDATABASE" => DB_NAME }, ["ruby", example], err: %i[child out], &:read)
    assert $?.success?, out
    assert_match(/stale save refused, qty is still 3/, out)
    assert_match(/OC409 \(HTTP 409\): current version 3/, out)
  end

  def test_ignore_mode_writes_outside_the_model_need_a_reload
    order = Order.create!(title: "desk", qty: 1)
    order.update_columns(qty: 5)            # no lock_version: occ bumps it anyway
    assert_equal "1", stored("orders", order.id)["lock_version"]
    assert_equal 0, order.lock_version
    assert_raises(ActiveRecord::StaleObjectError) { order.update!(title: "x") }
    order.reload.update!(title: "x")
    assert_equal "2", stored("orders", order.id)["lock_version"]
  end
end
