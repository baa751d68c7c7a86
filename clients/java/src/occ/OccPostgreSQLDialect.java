package occ;

import java.sql.SQLException;
import org.hibernate.JDBCException;
import org.hibernate.StaleStateException;
import org.hibernate.dialect.PostgreSQLDialect;
import org.hibernate.exception.SQLExceptionConverter;

/**
 * Hibernate 3.6 dialect that turns occ's OC409 and OC412 into Hibernate's stale-state
 * exception (JPA reports it as OptimisticLockException). Set hibernate.dialect to it.
 */
public class OccPostgreSQLDialect extends PostgreSQLDialect {
    /** A StaleStateException carrying occ's parsed error. */
    public static class OccStaleStateException extends StaleStateException {
        public final OccException occ;

        OccStaleStateException(OccException occ) {
            super(occ.getMessage());
            this.occ = occ;
            initCause(occ);
        }
    }

    @Override
    public SQLExceptionConverter buildSQLExceptionConverter() {
        final SQLExceptionConverter pg = super.buildSQLExceptionConverter();
        return new SQLExceptionConverter() {
            public JDBCException convert(SQLException e, String message, String sql) {
                OccException occ = OccException.from(e);
                if (occ != null && occ.isConflict()) throw new OccStaleStateException(occ);
                return pg.convert(e, message, sql); // OC404, OC428: a JDBCException as before
            }
        };
    }
}
