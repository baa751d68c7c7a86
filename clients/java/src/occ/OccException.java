package occ;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.sql.SQLException;
import org.postgresql.util.PSQLException;
import org.postgresql.util.ServerErrorMessage;

/**
 * One of occ's errors (SQLSTATE OC409, OC412, OC404, OC428) read from pgjdbc's
 * PSQLException: the HTTP status, the DETAIL parsed as JSON and the HINT.
 */
public class OccException extends RuntimeException {
    public final String sqlState; // "OC409"
    public final int status; // 409: the HTTP status an API answers
    public final JsonObject detail; // {"table", "key", "expected_version", "current_version", ...}
    public final String hint; // "Re-read the row and retry with its current version."

    OccException(PSQLException e, ServerErrorMessage m) {
        super(m.getMessage(), e);
        this.sqlState = m.getSQLState();
        this.status = Integer.parseInt(sqlState.substring(2));
        this.detail = m.getDetail() == null ? new JsonObject() : JsonParser.parseString(m.getDetail()).getAsJsonObject();
        this.hint = m.getHint();
    }

    /** The OccException of e or of any of its causes (Hibernate's, Spring's wrappers), else null. */
    public static OccException from(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            for (SQLException s = t instanceof SQLException ? (SQLException) t : null; s != null; s = s.getNextException()) {
                if (s instanceof PSQLException) {
                    ServerErrorMessage m = ((PSQLException) s).getServerErrorMessage();
                    if (m != null && m.getSQLState() != null && m.getSQLState().matches("OC[0-9]{3}"))
                        return new OccException((PSQLException) s, m);
                }
            }
            if (t instanceof OccException) return (OccException) t;
        }
        return null;
    }

    /** A re-read and retry can fix it: a version conflict or an ETag mismatch. */
    public boolean isConflict() {
        return status == 409 || status == 412;
    }

    /** The row's version now, or null when DETAIL does not say (OC404, RLS). */
    public Long currentVersion() {
        JsonElement v = detail.get("current_version");
        return v == null || v.isJsonNull() ? null : v.getAsLong();
    }

    /** The row's ETag now, or null. */
    public String currentEtag() {
        JsonElement v = detail.get("current_etag");
        return v == null || v.isJsonNull() ? null : v.getAsString();
    }
}
