package example;

import javax.persistence.Column;
import javax.persistence.Entity;
import javax.persistence.Id;
import javax.persistence.Table;
import javax.persistence.Version;
import org.hibernate.annotations.Generated;
import org.hibernate.annotations.GenerationTime;

/**
 * The same mapping on a table left at version_input 'ignore' (the default): other
 * writers may UPDATE it without touching the version, and occ still bumps it.
 *
 *   CREATE TABLE notes (id int PRIMARY KEY, title text NOT NULL);
 *   SELECT occ_enable('notes');                         -- adds version ... DEFAULT 1
 *   ALTER TABLE notes ALTER version SET DEFAULT 0;      -- @Version starts at 0
 */
@Entity
@Table(name = "notes")
public class Note {
    @Id
    private Integer id;

    @Column(nullable = false)
    private String title;

    @Version
    private long version;

    @Generated(GenerationTime.ALWAYS)
    @Column(insertable = false, updatable = false)
    private String etag;

    protected Note() {}

    public Note(int id, String title) {
        this.id = id;
        this.title = title;
    }

    public Integer getId() { return id; }
    public String getTitle() { return title; }
    public void setTitle(String title) { this.title = title; }
    public long getVersion() { return version; }
    public String getEtag() { return etag; }
}
