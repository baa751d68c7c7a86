/* occ--1.1--1.2.sql: occ 1.2 (a fresh install runs occ--1.0.sql and every upgrade script) */

-- complain if script is sourced in psql, rather than through ALTER EXTENSION
\echo Use "ALTER EXTENSION occ UPDATE TO '1.2'" to load this file. \quit
