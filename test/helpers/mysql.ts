import { createConnection, type Connection } from 'mysql2/promise';

export const MYSQL_BASE = process.env.TABLESYNC_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306';

export function mysqlUrl(database: string): string {
  return `${MYSQL_BASE}/${database}`;
}

/** Drops and recreates a MariaDB database; the connection speaks utf8mb4 and UTC. */
export async function freshMysqlDatabase(name: string): Promise<Connection> {
  const conn = await createConnection({ uri: MYSQL_BASE, charset: 'utf8mb4', multipleStatements: true, dateStrings: true });
  await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await conn.query(`USE \`${name}\``);
  await conn.query("SET time_zone = '+00:00'");
  return conn;
}

/** The MariaDB with the binary log on (scripts/services.sh starts it on 3307) that cdc tests read from. */
export const MYSQL_CDC_BASE = process.env.TABLESYNC_TEST_MYSQL_CDC ?? 'mysql://root@127.0.0.1:3307';

/** Drops and recreates a database on the binlog server; the connection speaks utf8mb4 and UTC. */
export async function freshMysqlCdcDatabase(name: string): Promise<Connection> {
  const conn = await createConnection({ uri: MYSQL_CDC_BASE, charset: 'utf8mb4', multipleStatements: true, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
  await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await conn.query(`USE \`${name}\``);
  await conn.query("SET time_zone = '+00:00'");
  return conn;
}
