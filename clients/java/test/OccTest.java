import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import example.Doc;
import example.Note;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import javax.persistence.EntityManager;
import javax.persistence.EntityManagerFactory;
import javax.persistence.OptimisticLockException;
import occ.OccException;
import occ.OccPostgreSQLDialect;
import org.hibernate.Session;
import org.hibernate.SessionFactory;
import org.hibernate.StaleObjectStateException;
import org.hibernate.StaleStateException;
import org.hibernate.Transaction;
import org.hibernate.cfg.Configuration;
import org.hibernate.ejb.Ejb3Configuration;
import org.postgresql.util.PGobject;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/**
 * Hibernate 3.6 (@Version), JPA and plain pgjdbc against occ-enabled tables, in a
 * database of its own (PGHOST, PGPORT, PGUSER as libpq reads them). Prints TAP:
 * "ok N - name" / "not ok N - name", then "# pass N" and "# fail N".
 */
public class OccTest {
    interface Body { void run() throws Exception; }

    static final String HINT = "Re-read the row and retry with its current version.";
    static String db;
    static SessionFactory sf;
    static Connection sql; // autocommit: the "other writer" and the checks
    static int passed, failed;

    public static void main(String[] args) throws Exception {
        db = "occ_java_" + ProcessHandle.current().pid();
        try (Connection admin = connect("postgres", ""); Statement st = admin.createStatement()) {
            st.execute("CREATE DATABASE " + db);
        }
        try {
            sql = connect(db, "");
            exec("CREATE EXTENSION occ");
            // Hibernate's @Version starts at 0: give the column that DEFAULT (occ starts new rows at it)
            exec("CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL, version bigint NOT NULL DEFAULT 0)");
            exec("SELECT occ_enable('docs', version_input => 'next')");
            exec("CREATE TABLE notes (id int PRIMARY KEY, title text NOT NULL)");
            exec("SELECT occ_enable('notes')"); // adds version ... DEFAULT 1: Hibernate needs 0
            exec("ALTER TABLE notes ALTER version SET DEFAULT 0");
            exec("CREATE TABLE things (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL)");
            exec("SELECT occ_enable('things')");
            exec("CREATE TABLE tags (id text PRIMARY KEY, name text NOT NULL)");
            exec("SELECT occ_enable('tags')");
            sf = new Configuration()
                .addAnnotatedClass(Doc.class).addAnnotatedClass(Note.class)
                .setProperty("hibernate.connection.driver_class", "org.postgresql.Driver")
                .setProperty("hibernate.connection.url", url(db, ""))
                .setProperty("hibernate.dialect", OccPostgreSQLDialect.class.getName())
                .buildSessionFactory();
            runAll();
            sf.close();
            sql.close();
        } finally {
            try (Connection admin = connect("postgres", ""); Statement st = admin.createStatement()) {
                st.execute("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
            }
        }
        System.out.println("1.." + (passed + failed));
        System.out.println("# pass " + passed);
        System.out.println("# fail " + failed);
        System.exit(failed == 0 ? 0 : 1);
    }

    static void runAll() {
        test("hibernate: create then update with Hibernate's defaults (version 0, then 1)", () -> {
            Session s = sf.openSession();
            Transaction tx = s.beginTransaction();
            Doc d = new Doc(1, "draft");
            s.save(d);
            tx.commit();
            eq(0L, d.getVersion(), "version in memory after insert");
            eq(0L, version("docs", 1), "version stored by the insert");
            String etag0 = d.getEtag();
            eq(etag("docs", 1), etag0, "ETag read back after insert");
            tx = s.beginTransaction();
            d.setTitle("final");
            tx.commit();
            s.close();
            eq(1L, d.getVersion(), "version in memory after update");
            eq(1L, version("docs", 1), "version stored by the update");
            eq("final", title("docs", 1), "title");
            eq(etag("docs", 1), d.getEtag(), "ETag read back after update");
            check(!etag0.equals(d.getEtag()), "the ETag changed");
        });

        test("hibernate: create then update on a version column occ added, set to DEFAULT 0", () -> {
            Session s = sf.openSession();
            Transaction tx = s.beginTransaction();
            Note n = new Note(1, "draft");
            s.save(n);
            tx.commit();
            eq(0L, version("notes", 1), "version stored by the insert");
            tx = s.beginTransaction();
            n.setTitle("final");
            tx.commit();
            s.close();
            eq(1L, n.getVersion(), "version in memory after update");
            eq(1L, version("notes", 1), "version stored by the update");
            eq("final", title("notes", 1), "title");
        });

        test("hibernate: of two sessions, the stale save raises StaleObjectStateException and writes nothing", () -> {
            exec("INSERT INTO docs (id, title) VALUES (2, 'two')");
            Session s1 = sf.openSession(), s2 = sf.openSession();
            Transaction t1 = s1.beginTransaction(), t2 = s2.beginTransaction();
            Doc d1 = (Doc) s1.get(Doc.class, 2), d2 = (Doc) s2.get(Doc.class, 2);
            d1.setTitle("first");
            t1.commit();
            d2.setTitle("second");
            try {
                t2.commit();
                fail("the stale save went through");
            } catch (StaleObjectStateException e) {
                eq(2, e.getIdentifier(), "identifier");
                t2.rollback();
            }
            s1.close();
            s2.close();
            eq("first", title("docs", 2), "title after the stale save");
            eq(d1.getVersion(), version("docs", 2), "version after the stale save");
        });

        test("hibernate: a plain UPDATE by another writer makes the next save stale (version_input 'ignore')", () -> {
            exec("INSERT INTO notes (id, title) VALUES (3, 'three')");
            Session s = sf.openSession();
            Transaction tx = s.beginTransaction();
            Note n = (Note) s.get(Note.class, 3);
            exec("UPDATE notes SET title = 'by another writer' WHERE id = 3");
            n.setTitle("mine");
            try {
                tx.commit();
                fail("the stale save went through");
            } catch (StaleObjectStateException e) {
                tx.rollback();
            }
            s.close();
            eq("by another writer", title("notes", 3), "title");
            eq(n.getVersion() + 1, version("notes", 3), "occ bumped the version of the plain UPDATE");
        });

        test("hibernate: version_input 'next': another writer's versioned UPDATE makes the save stale, an unversioned one gets OC428", () -> {
            exec("INSERT INTO docs (id, title) VALUES (4, 'four')");
            Session s = sf.openSession();
            Transaction tx = s.beginTransaction();
            Doc d = (Doc) s.get(Doc.class, 4);
            try {
                exec("UPDATE docs SET title = 'unversioned' WHERE id = 4");
                fail("an UPDATE without the version went through");
            } catch (PSQLException e) {
                eq("OC428", e.getSQLState(), "SQLSTATE");
            }
            try (PreparedStatement ps = sql.prepareStatement("UPDATE docs SET title = ?, version = ? WHERE id = ? AND version = ?")) {
                ps.setString(1, "by another writer");
                ps.setLong(2, d.getVersion() + 1);
                ps.setInt(3, 4);
                ps.setLong(4, d.getVersion());
                eq(1, ps.executeUpdate(), "rows updated by the other writer");
            }
            d.setTitle("mine");
            try {
                tx.commit();
                fail("the stale save went through");
            } catch (StaleObjectStateException e) {
                tx.rollback();
            }
            s.close();
            eq("by another writer", title("docs", 4), "title");
        });

        test("hibernate: version_input 'next': an HQL bulk update needs 'update versioned' (else OC428)", () -> {
            exec("INSERT INTO docs (id, title) VALUES (5, 'five')");
            long v = version("docs", 5);
            Session s = sf.openSession();
            Transaction tx = s.beginTransaction();
            try {
                s.createQuery("update Doc set title = :t where id = :id").setString("t", "bulk").setInteger("id", 5).executeUpdate();
                fail("an unversioned bulk update went through");
            } catch (RuntimeException e) {
                OccException occ = OccException.from(e);
                check(occ != null, "an OC error: " + e);
                eq(428, occ.status, "status");
                tx.rollback();
            }
            tx = s.beginTransaction();
            eq(1, s.createQuery("update versioned Doc set title = :t where id = :id").setString("t", "bulk").setInteger("id", 5).executeUpdate(), "rows");
            tx.commit();
            s.close();
            eq("bulk", title("docs", 5), "title");
            eq(v + 1, version("docs", 5), "version");
        });

        test("hibernate: occ_update through a native query: OC409 becomes a StaleStateException carrying the DETAIL", () -> {
            exec("INSERT INTO docs (id, title) VALUES (6, 'six')");
            long v = version("docs", 6);
            Session s = sf.openSession();
            Transaction tx = s.beginTransaction();
            String q = "SELECT cast(occ_update('docs', :id, :v, cast(:patch AS jsonb)) AS text)";
            String json = (String) s.createSQLQuery(q).setInteger("id", 6).setLong("v", v).setString("patch", "{\"title\": \"native\"}").uniqueResult();
            JsonObject row = JsonParser.parseString(json).getAsJsonObject();
            eq(v + 1, row.get("version").getAsLong(), "version returned");
            tx.commit();
            tx = s.beginTransaction();
            try {
                s.createSQLQuery(q).setInteger("id", 6).setLong("v", v).setString("patch", "{\"title\": \"stale\"}").uniqueResult();
                fail("the stale occ_update went through");
            } catch (StaleStateException e) {
                check(e instanceof OccPostgreSQLDialect.OccStaleStateException, "an OccStaleStateException: " + e);
                OccException occ = ((OccPostgreSQLDialect.OccStaleStateException) e).occ;
                eq(409, occ.status, "status");
                eq(v + 1, occ.currentVersion(), "current_version");
                eq(row.get("etag").getAsString(), occ.currentEtag(), "current_etag");
            }
            tx.rollback();
            s.close();
            eq("native", title("docs", 6), "title");
        });

        test("jpa: the stale flush raises OptimisticLockException and writes nothing", () -> {
            exec("INSERT INTO docs (id, title) VALUES (7, 'seven')");
            EntityManagerFactory emf = new Ejb3Configuration()
                .addAnnotatedClass(Doc.class)
                .setProperty("hibernate.connection.driver_class", "org.postgresql.Driver")
                .setProperty("hibernate.connection.url", url(db, ""))
                .setProperty("hibernate.dialect", OccPostgreSQLDialect.class.getName())
                .buildEntityManagerFactory();
            EntityManager em1 = emf.createEntityManager(), em2 = emf.createEntityManager();
            em1.getTransaction().begin();
            em2.getTransaction().begin();
            Doc d1 = em1.find(Doc.class, 7), d2 = em2.find(Doc.class, 7);
            d1.setTitle("first");
            em1.getTransaction().commit();
            d2.setTitle("second");
            try {
                em2.flush();
                fail("the stale flush went through");
            } catch (OptimisticLockException e) {
                em2.getTransaction().rollback();
            }
            em1.close();
            em2.close();
            emf.close();
            eq("first", title("docs", 7), "title");
            eq(d1.getVersion(), version("docs", 7), "version");
        });

        test("jdbc stringtype=unspecified: every id-taking function with every parameter a plain string (setString)", () -> {
            String id = insertThing("thing");
            try (Connection c = connect(db, "&stringtype=unspecified")) {
                JsonObject row = call(c, "SELECT occ_update(?, ?, ?, ?)", "things", id, "1", "{\"name\": \"renamed\"}");
                eq(2L, row.get("version").getAsLong(), "version (uuid key)");
                eq("renamed", row.get("name").getAsString(), "name");
                exec("INSERT INTO docs (id, title) VALUES (8, 'eight')");
                String v = String.valueOf(version("docs", 8));
                row = call(c, "SELECT occ_update(?, ?, ?, ?)", "docs", "8", v, "{\"title\": \"string id\"}");
                eq("string id", row.get("title").getAsString(), "title (int key)");
                row = call(c, "SELECT occ_update_if_match(?, ?, ?, ?)", "docs", "8", "\"" + row.get("etag").getAsString() + "\"", "{\"title\": \"if match\"}");
                eq("if match", row.get("title").getAsString(), "title after occ_update_if_match");
                row = call(c, "SELECT occ_delete_if_match(?, ?, ?)", "docs", "8", "*");
                eq("if match", row.get("title").getAsString(), "row deleted by occ_delete_if_match");
                JsonObject res = call(c, "SELECT occ_try_update(?, ?, ?, ?)", "things", id, "1", "{\"name\": \"stale\"}");
                eq("conflict", res.get("status").getAsString(), "occ_try_update status");
                eq(2L, res.get("current_version").getAsLong(), "occ_try_update current_version");
                row = call(c, "SELECT occ_delete(?, ?, ?)", "things", id, "2");
                eq("renamed", row.get("name").getAsString(), "deleted row");
            }
            eq(0L, count("things WHERE id = '" + id + "'") + count("docs WHERE id = 8"), "rows left");
        });

        test("jdbc default settings: typed parameters (int, uuid, varchar id; bigint; jsonb as PGobject)", () -> {
            String id = insertThing("typed");
            exec("INSERT INTO docs (id, title) VALUES (9, 'nine')");
            exec("INSERT INTO tags (id, name) VALUES ('t-1', 'tag')");
            long v = version("docs", 9);
            try (Connection c = connect(db, "")) {
                JsonObject row = call(c, "SELECT occ_update('docs', ?, ?, ?)", 9, v, jsonb("{\"title\": \"typed\"}"));
                eq(v + 1, row.get("version").getAsLong(), "version (int key)");
                row = call(c, "SELECT occ_update('things', ?, ?, ?)", UUID.fromString(id), 1L, jsonb("{\"name\": \"uuid\"}"));
                eq("uuid", row.get("name").getAsString(), "name (uuid key)");
                row = call(c, "SELECT occ_update('tags', ?, ?, ?)", "t-1", 1L, jsonb("{\"name\": \"text\"}"));
                eq("text", row.get("name").getAsString(), "name (text key sent as varchar)");
                JsonObject res = call(c, "SELECT occ_try_update('tags', ?, ?, ?)", "t-1", 2L, jsonb("{\"name\": \"again\"}"));
                eq("updated", res.get("status").getAsString(), "occ_try_update status");
                row = call(c, "SELECT occ_delete('tags', ?, ?)", "t-1", 3L);
                eq("again", row.get("name").getAsString(), "deleted row");
            }
            eq(0L, count("tags WHERE id = 't-1'"), "rows left");
        });

        test("jdbc: SQLSTATE, DETAIL (JSON) and HINT from PSQLException.getServerErrorMessage(); nothing written", () -> {
            exec("INSERT INTO docs (id, title) VALUES (10, 'ten')");
            long v = version("docs", 10);
            try (Connection c = connect(db, "")) {
                try {
                    call(c, "SELECT occ_update('docs', ?, ?, ?)", 10, v + 5, jsonb("{\"title\": \"stale\"}"));
                    fail("the stale occ_update went through");
                } catch (PSQLException e) {
                    ServerErrorMessage m = e.getServerErrorMessage();
                    eq("OC409", m.getSQLState(), "SQLSTATE");
                    JsonObject d = JsonParser.parseString(m.getDetail()).getAsJsonObject();
                    eq("public.docs", d.get("table").getAsString(), "DETAIL table");
                    eq(10, d.get("key").getAsInt(), "DETAIL key");
                    eq(v + 5, d.get("expected_version").getAsLong(), "DETAIL expected_version");
                    eq(v, d.get("current_version").getAsLong(), "DETAIL current_version");
                    eq(etag("docs", 10), d.get("current_etag").getAsString(), "DETAIL current_etag");
                    eq(HINT, m.getHint(), "HINT");
                    OccException occ = OccException.from(e);
                    eq(409, occ.status, "status");
                    check(occ.isConflict(), "a conflict");
                    eq(v, occ.currentVersion(), "currentVersion()");
                }
                try {
                    call(c, "SELECT occ_delete('docs', ?, ?)", 404, 1L);
                    fail("deleting a missing row went through");
                } catch (PSQLException e) {
                    OccException occ = OccException.from(e);
                    eq(404, occ.status, "status");
                    check(!occ.isConflict(), "not a conflict");
                    eq(null, occ.currentVersion(), "no current_version");
                    eq("404", occ.detail.get("key").toString(), "DETAIL key");
                }
            }
            eq("ten", title("docs", 10), "title");
            eq(v, version("docs", 10), "version");
        });
    }

    // ---- the harness

    static void test(String name, Body body) {
        int n = passed + failed + 1;
        try {
            body.run();
            passed++;
            System.out.println("ok " + n + " - " + name);
        } catch (Throwable e) {
            failed++;
            System.out.println("not ok " + n + " - " + name);
            System.out.println("  # " + e);
            for (Throwable c = e.getCause(); c != null; c = c.getCause()) System.out.println("  #   caused by " + c);
        }
        System.out.flush();
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }

    static void eq(Object want, Object got, String what) {
        if (want == null ? got != null : !want.equals(got)) throw new AssertionError(what + ": want " + want + ", got " + got);
    }

    static void fail(String what) {
        throw new AssertionError(what);
    }

    // ---- the database

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? dflt : v;
    }

    /** A JDBC URL from libpq's variables; a socket directory in PGHOST goes through junixsocket. */
    static String url(String dbname, String extra) {
        String host = env("PGHOST", "localhost"), port = env("PGPORT", "5432");
        String u = "jdbc:postgresql://" + (host.startsWith("/") ? "localhost" : host) + ":" + port + "/" + dbname
            + "?user=" + env("PGUSER", System.getProperty("user.name")) + "&sslmode=disable";
        if (host.startsWith("/"))
            u += "&socketFactory=org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg&socketFactoryArg=" + host + "/.s.PGSQL." + port;
        return u + extra;
    }

    static Connection connect(String dbname, String extra) throws SQLException {
        return DriverManager.getConnection(url(dbname, extra));
    }

    static void exec(String q) throws SQLException {
        try (Statement st = sql.createStatement()) {
            st.execute(q);
        }
    }

    static Object one(String q) throws SQLException {
        try (Statement st = sql.createStatement(); ResultSet rs = st.executeQuery(q)) {
            check(rs.next(), "a row from " + q);
            return rs.getObject(1);
        }
    }

    static long version(String table, int id) throws SQLException { return ((Number) one("SELECT version FROM " + table + " WHERE id = " + id)).longValue(); }
    static String etag(String table, int id) throws SQLException { return (String) one("SELECT etag FROM " + table + " WHERE id = " + id); }
    static String title(String table, int id) throws SQLException { return (String) one("SELECT title FROM " + table + " WHERE id = " + id); }
    static long count(String from) throws SQLException { return ((Number) one("SELECT count(*) FROM " + from)).longValue(); }
    static String insertThing(String name) throws SQLException { return one("INSERT INTO things (name) VALUES ('" + name + "') RETURNING id::text").toString(); }

    static PGobject jsonb(String json) throws SQLException {
        PGobject o = new PGobject();
        o.setType("jsonb");
        o.setValue(json);
        return o;
    }

    /** Runs a one-value query with the values bound by setObject (a String by setString) and parses its jsonb. */
    static JsonObject call(Connection c, String q, Object... params) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(q)) {
            for (int i = 0; i < params.length; i++) {
                if (params[i] instanceof String) ps.setString(i + 1, (String) params[i]);
                else ps.setObject(i + 1, params[i]);
            }
            try (ResultSet rs = ps.executeQuery()) {
                check(rs.next(), "a row");
                return JsonParser.parseString(rs.getString(1)).getAsJsonObject();
            }
        }
    }
}
