# frozen_string_literal: true

# Active Record's optimistic locking on an occ-enabled table, unchanged: the
# table keeps Rails' lock_version column (DEFAULT 0, so occ starts new rows at 0,
# as Rails does), occ's trigger bumps it for every other writer too, and occ's
# functions are called with plain bind parameters.
#
#   PGDATABASE=app ruby examples/orders.rb      (a database with occ installed)

require "json"
require_relative "../lib/occ"

Occ.install # OC409/OC412 -> Occ::StaleObjectError, OC404 -> Occ::NotFound, OC428 -> Occ::PreconditionRequired

# lock_version: Rails' optimistic locking, no other setting.
class Order < ActiveRecord::Base
end

module OrdersExample
  # The table as a Rails migration makes it, then occ_enable on it.
  # version_input 'ignore' (the default) leaves every writer free; 'next'
  # refuses UPDATEs that do not assign lock_version = read + 1 (OC428).
  def self.create_table(connection, table = :orders, version_input: "ignore")
    connection.create_table table, force: true do |t|
      t.string :title, null: false
      t.integer :qty, null: false, default: 0
      t.integer :lock_version, null: false, default: 0
      t.timestamps
    end
    connection.exec_query(
      "SELECT 1 FROM occ_enable($1, version_column => 'lock_version', version_input => $2)",
      "occ_enable", [table.to_s, version_input]
    )
  end

  # occ_update with plain bind parameters (no casts): the row after the change.
  def self.patch(id, version, changes, table: "orders")
    row = Order.connection.exec_query(
      "SELECT occ_update($1, $2, $3, $4) AS row", "occ_update",
      [table, id, version, changes.to_json]
    ).first["row"]
    JSON.parse(row)
  end

  # occ_delete_if_match with plain bind parameters: the deleted row.
  def self.delete_if_match(id, if_match, table: "orders")
    row = Order.connection.exec_query(
      "SELECT occ_delete_if_match($1, $2, $3) AS row", "occ_delete_if_match",
      [table, id, if_match]
    ).first["row"]
    JSON.parse(row)
  end
end

if $PROGRAM_NAME == __FILE__
  ActiveRecord::Base.establish_connection(adapter: "postgresql")
  OrdersExample.create_table(Order.connection)
  Order.reset_column_information

  order = Order.create!(title: "desk", qty: 1)          # lock_version 0
  order.update!(qty: 2)                                 # lock_version 1
  stale = Order.find(order.id)
  order.update!(qty: 3)
  begin
    stale.update!(qty: 4)
  rescue ActiveRecord::StaleObjectError
    puts "stale save refused, qty is still #{Order.find(order.id).qty}"
  end

  row = OrdersExample.patch(order.id, 2, { title: "standing desk" })
  puts "occ_update: version #{row['lock_version']}, title #{row['title']}"
  begin
    OrdersExample.patch(order.id, 2, { title: "late" })
  rescue Occ::StaleObjectError => e
    puts "#{e.sqlstate} (HTTP #{e.status}): current version #{e.current_version}; #{e.hint}"
  end
end
