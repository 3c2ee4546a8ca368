import assert from 'node:assert/strict';
import { ConnectionRegistry } from '../../activities/connections';
import { PG_BASE } from '../helpers/pg';

// A pin (config.pins) is the fingerprint of where a connection name goes. The
// drivers read that from every part of the URL, query string included
// (PostgreSQL's ?host= and ?port=, which socket-style URLs use; MariaDB's
// ?socketPath=), so the fingerprint must too, or two workers whose "dst"
// differ only there pass the pin check and write into two servers.

const fingerprint = (url: string, env: Record<string, string | undefined> = {}) => new ConnectionRegistry({ c: { url } }, env).fingerprint('c');

describe('connection fingerprints: everything that decides where a connection goes', () => {
  it('PostgreSQL: ?port= and ?host= in the query string move the connection, so they change the fingerprint', () => {
    const base = fingerprint('postgres://app@db1:5432/shop');
    assert.notEqual(fingerprint('postgres://app@db1:5432/shop?port=5433'), base, '?port= overrides the authority port');
    assert.notEqual(fingerprint('postgres://app@db1:5432/shop?host=db2'), base, '?host= overrides the authority host');
    assert.notEqual(fingerprint('postgres://app@db1/shop?host=/var/run/postgresql'), base, 'a socket directory is another route');
    assert.notEqual(fingerprint('postgres://app@db1:5432/shop?user=other'), base);
  });

  it('PostgreSQL: URLs that reach the same place have one fingerprint (defaults filled in as the driver fills them)', () => {
    const base = fingerprint('postgres://app@db1:5432/shop');
    assert.equal(fingerprint('postgres://app@db1/shop'), base, 'port 5432 is the default');
    assert.equal(fingerprint('postgresql://app:secret@db1:5432/shop'), base, 'the password is not part of it');
    assert.equal(fingerprint('postgres://app@other:1/shop?host=db1&port=5432'), base, 'the query string wins, as in the driver');
    assert.equal(fingerprint('postgres://app@db1:5432/shop?application_name=x&sslmode=disable'), base, 'settings that do not route leave it alone');
  });

  it('MariaDB: ?socketPath= routes the connection; the authority host and port are what the driver uses otherwise', () => {
    const base = fingerprint('mysql://root@db1:3306/shop');
    assert.notEqual(fingerprint('mysql://root@db1:3306/shop?socketPath=/run/mysqld/mysqld.sock'), base);
    assert.notEqual(fingerprint('mysql://root@db1:3307/shop'), base);
    assert.equal(fingerprint('mariadb://root@db1/shop'), base, 'port 3306 is the default, mariadb: is mysql:');
    assert.equal(fingerprint('mysql://root:pw@db1:3306/shop?connectTimeout=1000'), base);
  });

  it('SQL Server: the instance, host, port, database and user as the driver config has them', () => {
    const base = fingerprint('mssql://sa@db1:1433/shop');
    assert.notEqual(fingerprint('mssql://sa@db1:1433/shop?instanceName=b'), base);
    assert.notEqual(fingerprint('mssql://sa@db1:1434/shop'), base);
    assert.equal(fingerprint('sqlserver://sa:pw@db1:1433/shop?encrypt=false'), base);
  });

  it('the fingerprint follows the driver: a URL whose query string names the real port connects, and pins like the plain URL', async () => {
    const port = new URL(PG_BASE).port || '5432';
    const plain = `${PG_BASE}/postgres`;
    const routed = plain.replace(`:${port}/`, ':1/') + `?port=${port}`;
    const registry = new ConnectionRegistry({ c: { url: routed } }, {});
    try {
      const { rows } = await registry.pg('c').query('SELECT inet_server_port() AS p');
      assert.equal(String(rows[0].p ?? port), port, 'the driver took ?port= over :1');
      assert.equal(registry.fingerprint('c'), fingerprint(plain));
    } finally {
      await registry.close();
    }
  });
});
