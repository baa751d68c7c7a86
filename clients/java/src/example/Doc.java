package example;

import javax.persistence.Column;
import javax.persistence.Entity;
import javax.persistence.Id;
import javax.persistence.Table;
import javax.persistence.Version;
import org.hibernate.annotations.Generated;
import org.hibernate.annotations.GenerationTime;

/**
 * An entity on an occ-enabled table (version_input 'next'), mapped as Hibernate users
 * map any versioned entity. occ's ETag is read back after every insert and update.
 *
 *   CREATE TABLE docs (id int PRIMARY KEY, title text NOT NULL,
 *                      version bigint NOT NULL DEFAULT 0);   -- @Version starts at 0
 *   SELECT occ_enable('docs', version_input => 'next');
 */
@Entity
@Table(name = "docs")
public class Doc {
    @Id
    private Integer id;

    @Column(nullable = false)
    private String title;

    @Version
    private long version;

    @Generated(GenerationTime.ALWAYS)
    @Column(insertable = false, updatable = false)
    private String etag;

    protected Doc() {}

    public Doc(int id, String title) {
        this.id = id;
        this.title = title;
    }

    public Integer getId() { return id; }
    public String getTitle() { return title; }
    public void setTitle(String title) { this.title = title; }
    public long getVersion() { return version; }
    public String getEtag() { return etag; }
}
