import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { TablesyncError } from '../../lib/errors';
import { readFilterOf } from '../../lib/modes';
import { cursorBoundsSql, rangePredicate, type SourceColumn, type SourceTable } from '../../lib/sources/base';
import { MssqlSource, mssqlDialect, parseMssqlUrl } from '../../lib/sources/mssql';
import { columnsFromCatalog, mssqlCatalog, mssqlEstimateRows, type MssqlColumnRow } from '../../lib/sources/mssql/catalog';
import { mssqlCursorValueText } from '../../lib/sources/mssql/cursor';
import { mssqlCanonical, mssqlChecksumSql, MSSQL_UTF8_COLLATION } from '../../lib/sources/mssql/digest';
import { canonicalRowText, first32, md5Hex, mssqlHashedSelectSql } from '../../lib/sources/mssql/hashed';
import { mssqlKeyBoundsSql } from '../../lib/sources/mssql/keys';
import { mssqlSelectSql, readColumn, streamRows, type StreamingRequest } from '../../lib/sources/mssql/read';
import { mapMssqlType, readMappedColumn } from '../../lib/sources/mssql/types';
import { columnNotes, mapColumnType, planFullColumns } from '../../lib/table-plan';
import type { ColumnPlan, TablePlan, TableRef } from '../../lib/types';
import chinookColumns from '../fixtures/mssql/chinook-columns.json';
import chinookKeys from '../fixtures/mssql/chinook-primary-keys.json';

const TABLE: TableRef = { schema: 'Sales', name: 'Orders' };

/** A sys.columns row as the columns query returns it for a system type. */
function catalogRow(type_name: string, max_length: number, precision: number, scale: number): MssqlColumnRow {
  return { name: 'c', type_schema: 'sys', type_name, is_user_defined: false, max_length, precision, scale, is_nullable: true };
}

function column(row: MssqlColumnRow): SourceColumn {
  return columnsFromCatalog([row])[0];
}

function plan(source: TableRef, columns: [string, string][], primaryKey: string[]): TablePlan {
  return {
    source,
    target: { schema: 'public', name: source.name },
    mode: 'compare',
    columns: columns.map(([name, sourceType]) => ({ name, targetName: name, sourceType, targetType: 'text', nullable: true })),
    primaryKey,
    integerKey: true,
    notes: [],
  };
}

describe('SQL Server source (pure parts)', () => {
  describe('identifier quoting', () => {
    const cases: [string, string][] = [
      ['users', '[users]'],
      ['Order Details', '[Order Details]'],
      ['a]b', '[a]]b]'],
      [']]', '[]]]]]'],
      ['[x]', '[[x]]]'],
      ['select', '[select]'],
      ['order', '[order]'],
      ['café_ñandú_表😀', '[café_ñandú_表😀]'],
      ['a.b', '[a.b]'],
      ["'; DROP TABLE x; --", "['; DROP TABLE x; --]"],
    ];
    for (const [name, quoted] of cases) {
      it(`quotes ${JSON.stringify(name)}`, () => assert.equal(mssqlDialect.quoteIdent(name), quoted));
    }
    it('rejects NUL', () => assert.throws(() => mssqlDialect.quoteIdent('a\u0000b'), /NUL/));
    it('qualifies key-bounds SQL through the quoting', () => {
      assert.equal(
        mssqlKeyBoundsSql({ schema: 'Sales', name: 'Order]Lines' }, 'Id'),
        'SELECT CAST(MIN([Id]) AS varchar(20)) AS [min], CAST(MAX([Id]) AS varchar(20)) AS [max] FROM [Sales].[Order]]Lines]',
      );
    });
  });

  describe('placeholders and key ranges', () => {
    it('numbers placeholders @p1, @p2, …', () => {
      assert.deepEqual([1, 2, 12].map(mssqlDialect.placeholder), ['@p1', '@p2', '@p12']);
    });
    it('binds both bounds of a middle range', () => {
      assert.deepEqual(rangePredicate(mssqlDialect, 'Id', { index: 1, count: 3, lo: '100', hi: '200' }), {
        sql: ' WHERE [Id] > @p1 AND [Id] <= @p2',
        params: ['100', '200'],
      });
    });
    it('leaves the first range open below and the last open above', () => {
      assert.deepEqual(rangePredicate(mssqlDialect, 'Key]', { index: 0, count: 3, lo: null, hi: '-5' }), {
        sql: ' WHERE [Key]]] <= @p1',
        params: ['-5'],
      });
      assert.deepEqual(rangePredicate(mssqlDialect, 'Id', { index: 2, count: 3, lo: '9223372036854775806', hi: null }), {
        sql: ' WHERE [Id] > @p1',
        params: ['9223372036854775806'],
      });
    });
    it('has no WHERE for a whole table', () => {
      assert.deepEqual(rangePredicate(mssqlDialect, 'Id', { index: 0, count: 1, lo: null, hi: null }), { sql: '', params: [] });
    });
    it('splits only integer keys', () => {
      for (const t of ['tinyint', 'smallint', 'int', 'bigint']) assert.equal(mssqlDialect.isIntegerType(t), true, t);
      for (const t of ['decimal(18,0)', 'numeric(10,0)', 'uniqueidentifier', 'nvarchar(20)', 'bit', 'float', 'money']) {
        assert.equal(mssqlDialect.isIntegerType(t), false, t);
      }
    });
  });

  describe('catalog rows → declared type → PostgreSQL type', () => {
    // sys.columns values as SQL Server documents them for each type.
    const cases: [MssqlColumnRow, string, string][] = [
      [catalogRow('bit', 1, 1, 0), 'bit', 'boolean'],
      [catalogRow('tinyint', 1, 3, 0), 'tinyint', 'smallint'],
      [catalogRow('smallint', 2, 5, 0), 'smallint', 'smallint'],
      [catalogRow('int', 4, 10, 0), 'int', 'integer'],
      [catalogRow('bigint', 8, 19, 0), 'bigint', 'bigint'],
      [catalogRow('decimal', 9, 12, 2), 'decimal(12,2)', 'numeric(12,2)'],
      [catalogRow('decimal', 17, 38, 10), 'decimal(38,10)', 'numeric(38,10)'],
      [catalogRow('numeric', 5, 1, 0), 'numeric(1,0)', 'numeric(1,0)'],
      [catalogRow('money', 8, 19, 4), 'money', 'numeric(19,4)'],
      [catalogRow('smallmoney', 4, 10, 4), 'smallmoney', 'numeric(10,4)'],
      [catalogRow('float', 8, 53, 0), 'float', 'double precision'],
      [catalogRow('float', 4, 24, 0), 'float(24)', 'real'],
      [catalogRow('real', 4, 24, 0), 'real', 'real'],
      [catalogRow('date', 3, 10, 0), 'date', 'date'],
      [catalogRow('time', 5, 16, 7), 'time(7)', 'time(6)'],
      [catalogRow('time', 4, 12, 3), 'time(3)', 'time(3)'],
      [catalogRow('time', 3, 8, 0), 'time(0)', 'time(0)'],
      [catalogRow('datetime', 8, 23, 3), 'datetime', 'timestamp(3)'],
      [catalogRow('smalldatetime', 4, 16, 0), 'smalldatetime', 'timestamp(0)'],
      [catalogRow('datetime2', 8, 27, 7), 'datetime2(7)', 'timestamp(6)'],
      [catalogRow('datetime2', 8, 26, 6), 'datetime2(6)', 'timestamp(6)'],
      [catalogRow('datetime2', 6, 19, 0), 'datetime2(0)', 'timestamp(0)'],
      [catalogRow('datetimeoffset', 10, 34, 7), 'datetimeoffset(7)', 'timestamptz(6)'],
      [catalogRow('datetimeoffset', 8, 26, 0), 'datetimeoffset(0)', 'timestamptz(0)'],
      [catalogRow('char', 10, 0, 0), 'char(10)', 'varchar(10)'],
      [catalogRow('varchar', 50, 0, 0), 'varchar(50)', 'varchar(50)'],
      [catalogRow('varchar', -1, 0, 0), 'varchar(max)', 'text'],
      [catalogRow('nchar', 10, 0, 0), 'nchar(5)', 'varchar(5)'],
      [catalogRow('nvarchar', 8000, 0, 0), 'nvarchar(4000)', 'varchar(4000)'],
      [catalogRow('nvarchar', -1, 0, 0), 'nvarchar(max)', 'text'],
      [catalogRow('sysname', 256, 0, 0), 'sysname', 'varchar(128)'],
      [catalogRow('text', 16, 0, 0), 'text', 'text'],
      [catalogRow('ntext', 16, 0, 0), 'ntext', 'text'],
      [catalogRow('uniqueidentifier', 16, 0, 0), 'uniqueidentifier', 'uuid'],
      [catalogRow('binary', 4, 0, 0), 'binary(4)', 'bytea'],
      [catalogRow('varbinary', 16, 0, 0), 'varbinary(16)', 'bytea'],
      [catalogRow('varbinary', -1, 0, 0), 'varbinary(max)', 'bytea'],
      [catalogRow('image', 16, 0, 0), 'image', 'bytea'],
      // sys.types spells rowversion "timestamp".
      [catalogRow('timestamp', 8, 0, 0), 'timestamp', 'bytea'],
      [catalogRow('xml', -1, 0, 0), 'xml', 'xml'],
    ];
    for (const [row, declared, pg] of cases) {
      it(`${declared} → ${pg}`, () => {
        const c = column(row);
        assert.equal(c.type, declared);
        assert.equal(mapMssqlType(c, TABLE), pg);
        assert.equal(mssqlDialect.mapType(c, TABLE), pg);
      });
    }

    it('maps rowversion spelled as such', () => {
      assert.equal(mapMssqlType({ name: 'rv', type: 'rowversion', dataType: 'rowversion', nullable: false }, TABLE), 'bytea');
    });

    it('reports lengths in characters and nullability', () => {
      const c = columnsFromCatalog([{ ...catalogRow('nvarchar', 320, 0, 0), name: 'Title', is_nullable: false }])[0];
      assert.deepEqual(c, { name: 'Title', type: 'nvarchar(160)', dataType: 'nvarchar', nullable: false, length: 160 });
    });

    const unsupported: [MssqlColumnRow, string][] = [
      [catalogRow('sql_variant', 8016, 0, 0), 'sql_variant'],
      [catalogRow('hierarchyid', 892, 0, 0), 'hierarchyid'],
      [catalogRow('geography', -1, 0, 0), 'geography'],
      [catalogRow('geometry', -1, 0, 0), 'geometry'],
      [{ ...catalogRow('Phone', 40, 0, 0), type_schema: 'dbo', is_user_defined: true }, 'dbo.Phone'],
      // A user type may be named like a system type; its schema keeps them apart.
      [{ ...catalogRow('int', 4, 10, 0), type_schema: 'dbo', is_user_defined: true }, 'dbo.int'],
    ];
    for (const [row, type] of unsupported) {
      it(`refuses ${type}, naming table, column and type`, () => {
        const c = column(row);
        assert.equal(c.type, type);
        assert.throws(
          () => mapMssqlType(c, TABLE),
          (err: unknown) =>
            err instanceof TablesyncError &&
            err.type === 'UnsupportedType' &&
            err.message.startsWith(`Sales.Orders column "c" type ${type} has no exact PostgreSQL mapping`),
        );
      });
    }

    it('lets typeMap take the key the refusal suggests', () => {
      const c = column({ ...catalogRow('Phone', 40, 0, 0), type_schema: 'dbo', is_user_defined: true });
      assert.throws(() => mapMssqlType(c, TABLE), /typeMap: \{ "dbo\.phone": "text" \}/);
      assert.equal(mapColumnType(mssqlDialect, { 'dbo.phone': 'text' }, TABLE, c), 'text');
      assert.equal(mapColumnType(mssqlDialect, { sql_variant: 'text' }, TABLE, column(catalogRow('sql_variant', 8016, 0, 0))), 'text');
    });

    it('suggests for geography, geometry, hierarchyid and sql_variant the text read it really does', () => {
      const cases: [string, string][] = [
        ['geography', '[c].ToString()'],
        ['geometry', '[c].ToString()'],
        ['hierarchyid', '[c].ToString()'],
        ['sql_variant', 'CONVERT(nvarchar(4000), [c])'],
      ];
      for (const [type, expression] of cases) {
        const c = { ...column(catalogRow(type, -1, 0, 0)), name: 'c' };
        assert.throws(() => mapMssqlType(c, TABLE), new RegExp(`typeMap: \\{ "${type}": "text" \\}`));
        assert.equal(readMappedColumn({ name: 'c', sourceType: type, targetType: 'text' })?.expression, expression);
        assert.equal(readMappedColumn({ name: 'c', sourceType: type, targetType: 'bytea' }), null, 'only the suggested mapping is special');
      }
    });
  });

  describe('Chinook, from recorded catalog rows', () => {
    const recorded = chinookColumns.tables as Record<string, MssqlColumnRow[]>;
    const keys = chinookKeys.tables as Record<string, { name: string }[]>;
    const config = { target: { connection: 'dst', stateSchema: 'public', naming: 'preserve' as const }, typeMap: {} };

    function describeRecorded(name: string): SourceTable {
      const [schema, table] = name.split('.');
      return { ref: { schema, name: table }, columns: columnsFromCatalog(recorded[name]), primaryKey: keys[name].map((k) => k.name) };
    }

    // From Chinook_SqlServer.sql: "name declared-type → target type", NOT NULL where declared.
    const expected: Record<string, string[]> = {
      'dbo.Album': ['AlbumId int → integer NOT NULL', 'Title nvarchar(160) → varchar(160) NOT NULL', 'ArtistId int → integer NOT NULL'],
      'dbo.Artist': ['ArtistId int → integer NOT NULL', 'Name nvarchar(120) → varchar(120)'],
      'dbo.Customer': [
        'CustomerId int → integer NOT NULL',
        'FirstName nvarchar(40) → varchar(40) NOT NULL',
        'LastName nvarchar(20) → varchar(20) NOT NULL',
        'Company nvarchar(80) → varchar(80)',
        'Address nvarchar(70) → varchar(70)',
        'City nvarchar(40) → varchar(40)',
        'State nvarchar(40) → varchar(40)',
        'Country nvarchar(40) → varchar(40)',
        'PostalCode nvarchar(10) → varchar(10)',
        'Phone nvarchar(24) → varchar(24)',
        'Fax nvarchar(24) → varchar(24)',
        'Email nvarchar(60) → varchar(60) NOT NULL',
        'SupportRepId int → integer',
      ],
      'dbo.Employee': [
        'EmployeeId int → integer NOT NULL',
        'LastName nvarchar(20) → varchar(20) NOT NULL',
        'FirstName nvarchar(20) → varchar(20) NOT NULL',
        'Title nvarchar(30) → varchar(30)',
        'ReportsTo int → integer',
        'BirthDate datetime → timestamp(3)',
        'HireDate datetime → timestamp(3)',
        'Address nvarchar(70) → varchar(70)',
        'City nvarchar(40) → varchar(40)',
        'State nvarchar(40) → varchar(40)',
        'Country nvarchar(40) → varchar(40)',
        'PostalCode nvarchar(10) → varchar(10)',
        'Phone nvarchar(24) → varchar(24)',
        'Fax nvarchar(24) → varchar(24)',
        'Email nvarchar(60) → varchar(60)',
      ],
      'dbo.Genre': ['GenreId int → integer NOT NULL', 'Name nvarchar(120) → varchar(120)'],
      'dbo.Invoice': [
        'InvoiceId int → integer NOT NULL',
        'CustomerId int → integer NOT NULL',
        'InvoiceDate datetime → timestamp(3) NOT NULL',
        'BillingAddress nvarchar(70) → varchar(70)',
        'BillingCity nvarchar(40) → varchar(40)',
        'BillingState nvarchar(40) → varchar(40)',
        'BillingCountry nvarchar(40) → varchar(40)',
        'BillingPostalCode nvarchar(10) → varchar(10)',
        'Total numeric(10,2) → numeric(10,2) NOT NULL',
      ],
      'dbo.InvoiceLine': [
        'InvoiceLineId int → integer NOT NULL',
        'InvoiceId int → integer NOT NULL',
        'TrackId int → integer NOT NULL',
        'UnitPrice numeric(10,2) → numeric(10,2) NOT NULL',
        'Quantity int → integer NOT NULL',
      ],
      'dbo.MediaType': ['MediaTypeId int → integer NOT NULL', 'Name nvarchar(120) → varchar(120)'],
      'dbo.Playlist': ['PlaylistId int → integer NOT NULL', 'Name nvarchar(120) → varchar(120)'],
      'dbo.PlaylistTrack': ['PlaylistId int → integer NOT NULL', 'TrackId int → integer NOT NULL'],
      'dbo.Track': [
        'TrackId int → integer NOT NULL',
        'Name nvarchar(200) → varchar(200) NOT NULL',
        'AlbumId int → integer',
        'MediaTypeId int → integer NOT NULL',
        'GenreId int → integer',
        'Composer nvarchar(220) → varchar(220)',
        'Milliseconds int → integer NOT NULL',
        'Bytes int → integer',
        'UnitPrice numeric(10,2) → numeric(10,2) NOT NULL',
      ],
    };

    it('has a recording of every Chinook table, 64 columns in all', () => {
      assert.deepEqual(Object.keys(recorded).sort(), Object.keys(expected).sort());
      assert.deepEqual(Object.keys(keys).sort(), Object.keys(expected).sort());
      assert.equal(Object.values(recorded).flat().length, 64);
    });

    for (const name of Object.keys(expected)) {
      it(`maps every column of ${name}`, () => {
        const columns = planFullColumns(mssqlDialect, config, describeRecorded(name));
        assert.deepEqual(
          columns.map((c) => `${c.name} ${c.sourceType} → ${c.targetType}${c.nullable ? '' : ' NOT NULL'}`),
          expected[name],
        );
      });
    }

    it('splits single integer keys only (PlaylistTrack has a composite key)', () => {
      const splittable = Object.keys(expected).filter((name) => {
        const t = describeRecorded(name);
        const keyType = t.columns.find((c) => c.name === t.primaryKey[0])!.type;
        return t.primaryKey.length === 1 && mssqlDialect.isIntegerType(keyType);
      });
      assert.deepEqual(splittable, Object.keys(expected).filter((n) => n !== 'dbo.PlaylistTrack'));
    });

    it('reads a cursor window of Invoice: bounds as text converted in SQL, the lookback on the server, values after the key bounds', () => {
      const table = describeRecorded('dbo.Invoice');
      const date = table.columns.find((c) => c.name === 'InvoiceDate')!;
      assert.equal(mssqlDialect.cursor.kind(date), 'time');
      const p: TablePlan = {
        source: table.ref,
        target: table.ref,
        mode: 'cursor',
        columns: planFullColumns(mssqlDialect, config, table),
        primaryKey: table.primaryKey,
        integerKey: true,
        notes: [],
        cursor: {
          column: 'InvoiceDate',
          targetColumn: 'InvoiceDate',
          sourceType: date.type,
          dataType: date.dataType,
          kind: 'time',
          write: 'upsert',
          nullable: false,
          saved: '2013-12-05 00:00:00.000',
          window: { from: '2013-12-05 00:00:00.000', to: '2013-12-22 00:00:00.000', lookback: '5 minutes', includeNull: false },
        },
      };
      const read = mssqlSelectSql(p, { index: 0, count: 1, lo: '100', hi: null }, readFilterOf(p));
      assert.match(
        read.sql,
        / WHERE \[InvoiceId\] > @p1 AND \(\[InvoiceDate\] >= DATEADD\(second, -300, CAST\(CAST\(@p2 AS datetime2\(3\)\) AS datetime\)\) AND \[InvoiceDate\] <= CAST\(CAST\(@p3 AS datetime2\(3\)\) AS datetime\)\)$/,
      );
      assert.deepEqual([read.params, read.keyParams], [['100', '2013-12-05 00:00:00.000', '2013-12-22 00:00:00.000'], 1]);
      assert.equal(
        cursorBoundsSql(mssqlDialect, table.ref, p.cursor!).sql,
        'SELECT CONVERT(varchar(23), CONVERT(datetime2(3), MAX([InvoiceDate])), 121) AS max_value, COUNT(*) - COUNT([InvoiceDate]) AS null_rows FROM [dbo].[Invoice]',
      );
    });

    it('orders cursors by datetime2(7) with all 7 digits, datetimeoffset, numbers and rowversion, and refuses strings', () => {
      const c = (type_name: string, scale = 7) => column({ ...catalogRow(type_name, 8, 0, scale) });
      const cur = mssqlDialect.cursor!;
      assert.deepEqual(['datetime2', 'datetimeoffset', 'date', 'bigint', 'decimal', 'rowversion', 'nvarchar', 'uniqueidentifier', 'bit'].map((t) => cur.kind(c(t))),
        ['time', 'time', 'time', 'number', 'number', 'binary', null, null, null]);
      assert.equal(cur.text('[v]', c('datetime2')), 'CONVERT(varchar(27), [v], 121)');
      // rowversion as the number its 8 bytes are (Babelfish decodes CONVERT(varchar, bytes, 1) as text); saved hex still reads.
      assert.equal(cur.text('[v]', c('rowversion')), 'CONVERT(varchar(20), CONVERT(bigint, [v]))');
      assert.equal(cur.param('@p1', c('rowversion')), "CASE WHEN @p1 LIKE '0x%' THEN TRY_CONVERT(binary(8), @p1, 1) ELSE CONVERT(binary(8), TRY_CONVERT(bigint, @p1)) END");
      // datetime in its own type: its tick as datetime2(3) text, read back exactly (not as datetime2(7), which
      // compares .003 with the stored .0033333); a date's lookback on datetime2 (DATEADD(second) on a date is error 9810).
      assert.equal(cur.text('[v]', c('datetime')), 'CONVERT(varchar(23), CONVERT(datetime2(3), [v]), 121)');
      assert.equal(cur.param('@p1', c('datetime')), 'CAST(CAST(@p1 AS datetime2(3)) AS datetime)');
      assert.equal(cur.minus('@x', { seconds: 60 }, 'time', c('date')), 'DATEADD(second, -60, CONVERT(datetime2(7), @x))');
      assert.equal(cur.minus('@x', { seconds: 60 }, 'time', c('datetime2')), 'DATEADD(second, -60, @x)');
      assert.equal(cur.param('@p1', c('datetimeoffset')), 'CONVERT(datetimeoffset(7), @p1, 121)');
    });

    it('reads a partition of Invoice with exact-text conversions and bound bounds', () => {
      const table = describeRecorded('dbo.Invoice');
      const p: TablePlan = {
        source: table.ref,
        target: table.ref,
        mode: 'full',
        columns: planFullColumns(mssqlDialect, config, table),
        primaryKey: table.primaryKey,
        integerKey: true,
        notes: [],
      };
      assert.deepEqual(mssqlSelectSql(p, { index: 1, count: 4, lo: '103', hi: '206' }), {
        keyParams: 2,
        sql:
          'SELECT [InvoiceId], [CustomerId], CONVERT(varchar(23), [InvoiceDate], 121), [BillingAddress], [BillingCity], ' +
          '[BillingState], [BillingCountry], [BillingPostalCode], CONVERT(varchar(50), [Total]) ' +
          'FROM [dbo].[Invoice] WHERE [InvoiceId] > @p1 AND [InvoiceId] <= @p2',
        params: ['103', '206'],
      });
    });
  });

  describe('reading columns', () => {
    it('converts precision-sensitive types to exact text on the server', () => {
      const p = plan(
        { schema: 'Sales', name: 'Order Lines' },
        [
          ['Id', 'bigint'],
          ['flag', 'bit'],
          ['qty', 'int'],
          ['amount', 'decimal(38,10)'],
          ['price', 'money'],
          ['fee', 'smallmoney'],
          ['ratio', 'float'],
          ['day', 'date'],
          ['at', 'time(7)'],
          ['created', 'datetime'],
          ['rounded', 'smalldatetime'],
          ['precise', 'datetime2(7)'],
          ['local', 'datetimeoffset(7)'],
          ['guid', 'uniqueidentifier'],
          ['name]x', 'nvarchar(max)'],
          ['blob', 'varbinary(max)'],
          ['doc', 'xml'],
        ],
        ['Id'],
      );
      const widened = (c: string) => `CONVERT(varchar(27), CONVERT(datetime2(7), ${c}), 121)`;
      assert.deepEqual(mssqlSelectSql(p, { index: 2, count: 3, lo: '-9223372036854775808', hi: null }), {
        keyParams: 1,
        sql:
          'SELECT CONVERT(varchar(20), [Id]), [flag], [qty], CONVERT(varchar(50), [amount]), CONVERT(varchar(50), CONVERT(decimal(19,4), [price])), ' +
          'CONVERT(varchar(50), CONVERT(decimal(10,4), [fee])), [ratio], CONVERT(char(10), [day], 23), ' +
          `SUBSTRING(${widened('[at]')}, 12, 15), CONVERT(varchar(23), [created], 121), ` +
          `CONVERT(varchar(19), [rounded], 120), LEFT(${widened('[precise]')}, 26), ` +
          `LEFT(${widened('[local]')}, 26) + CASE WHEN DATEPART(tzoffset, [local]) < 0 THEN '-' ELSE '+' END + RIGHT('0' + CONVERT(varchar(2), ABS(DATEPART(tzoffset, [local])) / 60), 2) + ':' + RIGHT('0' + CONVERT(varchar(2), ABS(DATEPART(tzoffset, [local])) % 60), 2), CONVERT(char(36), [guid]), ` +
          '[name]]x], [blob], [doc] FROM [Sales].[Order Lines] WHERE [Id] > @p1',
        params: ['-9223372036854775808'],
      });
    });

    const encode = (sourceType: string, value: unknown) => readColumn({ name: 'c', sourceType }).encode(value);

    it('encodes bit as t/f', () => {
      assert.deepEqual([true, false, null].map((v) => encode('bit', v)), ['t', 'f', null]);
    });
    it('encodes floats as round-trip text, keeping -0', () => {
      assert.equal(encode('float', 0.1), '0.1');
      assert.equal(encode('float', -0), '-0');
      assert.equal(encode('float', 1.7976931348623157e308), '1.7976931348623157e+308');
      const real = Math.fround(3.14159);
      assert.equal(Math.fround(Number(encode('real', real))), real);
    });
    it('escapes text for COPY and keeps trailing spaces and 4-byte characters', () => {
      assert.equal(encode('nvarchar(50)', 'a\tb\\c\nd\re 😀 '), 'a\\tb\\\\c\\nd\\re 😀 ');
      assert.equal(encode('varchar(10)', ''), '');
      assert.equal(encode('nvarchar(10)', null), null);
    });
    it('encodes binary as bytea hex', () => {
      assert.equal(encode('varbinary(max)', Buffer.from([0, 255, 16])), '\\\\x00ff10');
      assert.equal(encode('timestamp', Buffer.alloc(0)), '\\\\x');
    });
    it('reads an unmapped type as is and refuses values with no exact text form', () => {
      assert.equal(readColumn({ name: 'p', sourceType: 'dbo.Phone' }).expression, '[p]');
      assert.equal(encode('dbo.Phone', '+1 555'), '+1 555');
      assert.throws(() => encode('hierarchyid', Buffer.from([0x58])), /hierarchyid arrives as bytes/);
      assert.throws(() => encode('sql_variant', new Date(0)), /sql_variant arrives as an object/);
    });
  });

  describe('streaming a request into COPY text', () => {
    /** Behaves like mssql's Request in stream mode: rows stop while paused. */
    class FakeRequest extends EventEmitter implements StreamingRequest {
      paused = false;
      pauses = 0;
      cancelled = false;
      sql = '';
      pause() {
        if (!this.paused) this.pauses++;
        this.paused = true;
      }
      resume() {
        this.paused = false;
        this.emit('resumed');
      }
      cancel() {
        this.cancelled = true;
      }
      query(sql: string) {
        this.sql = sql;
        return new Promise<void>((resolve) => this.once('done', () => resolve()));
      }
      async serve(rows: unknown[][]) {
        this.emit('recordset', {});
        for (const row of rows) {
          while (this.paused) await once(this, 'resumed');
          this.emit('row', row);
        }
        this.emit('done', {});
      }
    }

    const columns: ColumnPlan[] = [
      { name: 'id', targetName: 'id', sourceType: 'int', targetType: 'integer', nullable: false },
      { name: 'note', targetName: 'note', sourceType: 'nvarchar(100)', targetType: 'varchar(100)', nullable: true },
      { name: 'ok', targetName: 'ok', sourceType: 'bit', targetType: 'boolean', nullable: true },
    ];

    async function readAll(stream: NodeJS.ReadableStream, slow = false): Promise<string> {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) {
        chunks.push(chunk as Buffer);
        if (slow) await new Promise((r) => setTimeout(r, 2));
      }
      return Buffer.concat(chunks).toString('utf8');
    }

    it('pauses the request while the consumer is behind and delivers every row in order', async () => {
      const n = 20_000;
      const note = (i: number) => (i % 7 ? `row ${i}\twith a tab and some padding text` : null);
      const rows = Array.from({ length: n }, (_, i) => [i, note(i), i % 2 === 0]);
      const req = new FakeRequest();
      const opening = streamRows(req, 'SELECT 1', columns);
      const serving = req.serve(rows);
      const copy = await opening;
      assert.equal(copy.format, 'text');
      const text = await readAll(copy.stream, true);
      await serving;
      await copy.finish();
      assert.ok(req.pauses > 0, 'the request was never paused');
      assert.equal(req.sql, 'SELECT 1');
      assert.equal(copy.rows(), n);
      const lines = text.split('\n');
      assert.equal(lines.pop(), '');
      assert.deepEqual(
        lines,
        rows.map(([i]) => `${i}\t${note(i as number)?.replace('\t', '\\t') ?? '\\N'}\t${(i as number) % 2 === 0 ? 't' : 'f'}`),
      );
      assert.equal(lines[1], '1\trow 1\\twith a tab and some padding text\tf');
      assert.deepEqual(copy.warnings(), {});
    });

    it('ends an empty result with no data', async () => {
      const req = new FakeRequest();
      const opening = streamRows(req, 'SELECT 1', columns);
      const serving = req.serve([]);
      const copy = await opening;
      assert.equal(await readAll(copy.stream), '');
      await serving;
      await copy.finish();
      assert.equal(copy.rows(), 0);
    });

    it('rejects the open when SQL Server refuses the query', async () => {
      const req = new FakeRequest();
      const opening = streamRows(req, 'SELECT nope', columns);
      const refusal = Object.assign(new Error("Invalid column name 'nope'."), { number: 207 });
      req.emit('error', refusal);
      req.emit('done', {});
      await assert.rejects(opening, (err) => err === refusal);
    });

    it('fails the stream on an error after the first rows', async () => {
      const req = new FakeRequest();
      const opening = streamRows(req, 'SELECT 1', columns);
      req.emit('recordset', {});
      const copy = await opening;
      req.emit('row', [1, 'a', true]);
      const failure = new Error('Arithmetic overflow error converting expression to data type int.');
      req.emit('error', failure);
      req.emit('done', {});
      await assert.rejects(readAll(copy.stream), (err) => err === failure);
      await copy.finish(failure);
      assert.equal(req.cancelled, false, 'a finished request needs no cancel');
    });

    it('names the column when a value cannot be encoded', async () => {
      const req = new FakeRequest();
      const opening = streamRows(req, 'SELECT 1', columns);
      const serving = req.serve([[1, 'a', 'maybe']]);
      const copy = await opening;
      await assert.rejects(readAll(copy.stream), /column "ok": value "maybe" is not a boolean/);
      // The error came before the consumer attached; it must wait for it, not crash the process.
      await serving;
      await copy.finish(new Error('encoding failed'));
    });

    it('cancels a running request when the consumer fails, and waits for it to end', async () => {
      const req = new FakeRequest();
      const opening = streamRows(req, 'SELECT 1', columns);
      req.emit('recordset', {});
      const copy = await opening;
      req.emit('row', [1, 'a', true]);
      let finished = false;
      const finishing = copy.finish(new Error('target failed')).then(() => (finished = true));
      await new Promise((r) => setImmediate(r));
      assert.equal(req.cancelled, true);
      assert.equal(finished, false, 'finish returned before the request ended');
      req.emit('error', Object.assign(new Error('Canceled.'), { code: 'ECANCEL' }));
      req.emit('done', {});
      await finishing;
      assert.equal(copy.stream.destroyed, true, 'rows still arriving would be buffered');
    });
  });

  describe('connection URL', () => {
    it('parses user, password, host, port, database and options', () => {
      const config = parseMssqlUrl(
        'mssql://sa:p%40ss%3Aw0rd%2F@db.example:1444/Chinook?encrypt=false&trustServerCertificate=true&requestTimeout=60000',
        4,
      );
      assert.equal(config.server, 'db.example');
      assert.equal(config.port, 1444);
      assert.equal(config.user, 'sa');
      assert.equal(config.password, 'p@ss:w0rd/');
      assert.equal(config.database, 'Chinook');
      assert.equal(config.requestTimeout, 60000);
      assert.equal(config.options?.encrypt, false);
      assert.equal(config.options?.trustServerCertificate, true);
      assert.equal(config.pool?.max, 4);
    });
    it('encrypts and verifies certificates unless told otherwise', () => {
      const config = parseMssqlUrl('sqlserver://reader:pw@[::1]/Sales');
      assert.equal(config.server, '::1');
      assert.equal(config.port, undefined);
      assert.equal(config.options?.encrypt, true);
      assert.equal(config.options?.trustServerCertificate, false);
      assert.equal(config.requestTimeout, 300_000);
    });
    it('leaves the port to the SQL Browser for a named instance', () => {
      const config = parseMssqlUrl('mssql://u:p@host:1433/db?instanceName=SQLEXPRESS');
      assert.equal(config.port, undefined);
      assert.equal(config.options?.instanceName, 'SQLEXPRESS');
    });
    const bad: [string, RegExp][] = [
      ['mssql://sa:s3cret@host:99999/db', /not a valid URL/],
      ['postgres://sa:s3cret@host/db', /must start with mssql:\/\//],
      ['mssql://sa:s3cret@host/db?encrypt=maybe', /encrypt must be true or false/],
      ['mssql://sa:s3cret@host/db?pasword=x', /option "pasword" is unknown/],
      ['mssql://sa:s3cret%zz@host/db', /password has a malformed %-escape/],
    ];
    for (const [url, message] of bad) {
      it(`refuses ${url.replace('s3cret', '…')} without repeating the password`, () => {
        assert.throws(
          () => new MssqlSource(url),
          (err: unknown) => err instanceof TablesyncError && err.type === 'InvalidConfig' && message.test(err.message) && !err.message.includes('s3cret'),
        );
      });
    }
  });

  describe('verification checksums', () => {
    const canonical = (sourceType: string, targetType: string, name = 'c') => mssqlCanonical({ name, sourceType, targetType });
    const widened = (c: string) => `CONVERT(varchar(27), CONVERT(datetime2(7), ${c}), 121)`;

    it('gives the dialect a canonical text, so verify no longer refuses SQL Server sources', () => {
      assert.equal(typeof mssqlDialect.canonicalText, 'function');
      assert.equal(mssqlDialect.canonicalText({ name: 'Id', targetName: 'id', sourceType: 'int', targetType: 'integer', nullable: false }), 'CONVERT(varchar(20), [Id])');
    });

    it('spells each natural mapping as pgCanonical does, from the value the read path sends', () => {
      const cases: [string, string, string][] = [
        ['bit', 'boolean', "CASE WHEN [c] = 1 THEN 't' WHEN [c] = 0 THEN 'f' END"],
        ['bigint', 'bigint', 'CONVERT(varchar(20), [c])'],
        ['decimal(38,10)', 'numeric(38,10)', 'CONVERT(varchar(50), [c])'],
        ['money', 'numeric(19,4)', 'CONVERT(varchar(50), CONVERT(decimal(19,4), [c]))'],
        ['float', 'double precision', 'LOWER(CONVERT(varchar(max), CONVERT(varbinary(8), CONVERT(float, [c])), 2))'],
        ['float(24)', 'real', 'LOWER(CONVERT(varchar(max), CONVERT(varbinary(4), CONVERT(real, [c])), 2))'],
        ['real', 'double precision', 'LOWER(CONVERT(varchar(max), CONVERT(varbinary(8), CONVERT(float, [c])), 2))'],
        ['date', 'date', "CONVERT(char(10), [c], 23) + ' AD'"],
        ['time(7)', 'time(6)', `SUBSTRING(${widened('[c]')}, 12, 15)`],
        ['time(7)', 'time(6) without time zone', `SUBSTRING(${widened('[c]')}, 12, 15)`],
        ['datetime', 'timestamp(3)', "CONVERT(varchar(23), [c], 121) + '000' + ' AD'"],
        ['smalldatetime', 'timestamp(0) without time zone', "CONVERT(varchar(19), [c], 120) + '.000000' + ' AD'"],
        ['datetime2(7)', 'timestamp(6)', `LEFT(${widened('[c]')}, 26) + ' AD'`],
        [
          'datetimeoffset(7)',
          'timestamp(6) with time zone',
          "LEFT(CONVERT(varchar(27), CONVERT(datetime2(7), SWITCHOFFSET([c], '+00:00')), 121), 26) + ' AD'",
        ],
        ['datetimeoffset(0)', 'timestamptz(0)', "LEFT(CONVERT(varchar(27), CONVERT(datetime2(7), SWITCHOFFSET([c], '+00:00')), 121), 26) + ' AD'"],
        ['uniqueidentifier', 'uuid', 'LOWER(CONVERT(char(36), [c]))'],
        ['varbinary(max)', 'bytea', 'LOWER(CONVERT(varchar(max), CONVERT(varbinary(max), [c]), 2))'],
        ['timestamp', 'bytea', 'LOWER(CONVERT(varchar(max), CONVERT(varbinary(max), [c]), 2))'],
        ['nvarchar(60)', 'character varying(60)', 'CONVERT(nvarchar(max), [c])'],
        ['char(10)', 'varchar(10)', 'CONVERT(nvarchar(max), [c])'],
        ['ntext', 'text', 'CONVERT(nvarchar(max), [c])'],
        ['xml', 'xml', 'CONVERT(nvarchar(max), [c])'],
        ['geography', 'text', 'CONVERT(nvarchar(max), [c].ToString())'],
      ];
      for (const [source, target, expected] of cases) assert.equal(canonical(source, target), expected, `${source} → ${target}`);
    });

    it('leaves out, rather than compares loosely, a pairing with no exact rule', () => {
      const cases: [string, string][] = [
        ['float', 'real'], // a double rounded to single precision by two different routines
        ['decimal(12,2)', 'numeric(12,4)'], // equal values, texts "1.50" and "1.5000"
        ['int', 'numeric(10,2)'],
        ['int', 'text'],
        ['datetime2(7)', 'date'],
        ['datetimeoffset(7)', 'time(6)'],
        ['nvarchar(10)', 'character(10)'], // bpchar's text drops the pad
        ['dbo.Phone', 'text'], // an alias type: its base type is not known here
        ['sql_variant', 'bytea'],
      ];
      for (const [source, target] of cases) assert.equal(canonical(source, target), null, `${source} → ${target}`);
    });

    it('hashes length-prefixed fields as UTF-8 with MD5 and sums the first 32 bits, the key range bound as parameters', () => {
      const p = plan({ schema: 'Sales', name: 'Order]Lines' }, [['Id', 'int'], ['name', 'nvarchar(20)']], ['Id']);
      p.columns[0].targetType = 'integer';
      const { sql, params } = mssqlChecksumSql(p, p.columns, { index: 1, count: 3, lo: '10', hi: '20' });
      const field = (column: string, text: string) => {
        const n = `CONVERT(nvarchar(max), ${text}) COLLATE ${MSSQL_UTF8_COLLATION}`;
        return `CASE WHEN ${column} IS NULL THEN N'N' ELSE CONVERT(nvarchar(20), LEN(${n} + N'.') - 1) + N':' + ${n} END`;
      };
      const row = `CONVERT(varchar(max), (${field('[Id]', 'CONVERT(varchar(20), [Id])')} + ${field('[name]', 'CONVERT(nvarchar(max), [name])')}) COLLATE ${MSSQL_UTF8_COLLATION})`;
      assert.equal(
        sql,
        `SELECT COUNT_BIG(*) AS [rows], CONVERT(varchar(40), COALESCE(SUM(CONVERT(decimal(38, 0), ` +
          `CONVERT(bigint, 0x00000000 + SUBSTRING(HASHBYTES('MD5', ${row}), 1, 4)))), 0)) AS [sum] ` +
          `FROM [Sales].[Order]]Lines] WHERE [Id] > @p1 AND [Id] <= @p2`,
      );
      assert.deepEqual(params, ['10', '20']);
      assert.equal(MSSQL_UTF8_COLLATION, 'Latin1_General_100_CS_AS_SC_UTF8');
    });

    it('refuses a column without a canonical text instead of hashing something else', () => {
      const p = plan(TABLE, [['Id', 'int'], ['f', 'float']], ['Id']);
      p.columns[0].targetType = 'integer';
      p.columns[1].targetType = 'real';
      assert.throws(() => mssqlChecksumSql(p, p.columns, { index: 0, count: 1, lo: null, hi: null }), /column f \(float → real\) has no canonical text/);
    });

    it('hashes in the worker when the server has no UTF-8 collation (before SQL Server 2019, Babelfish), never refusing', async () => {
      // COLLATIONPROPERTY of an unknown collation is NULL: what SQL Server 2017 answers.
      class Sql2017 extends MssqlSource {
        sql: string[] = [];
        protected async query<T>(sql: string, names: string[] = []): Promise<T[]> {
          this.sql.push(sql);
          assert.deepEqual(names, [MSSQL_UTF8_COLLATION]);
          return [{ cp: null }] as T[];
        }
      }
      const source = new Sql2017('mssql://sa:x@127.0.0.1:1/db?encrypt=false');
      assert.equal(await source.hashesOnServer(), false);
      assert.match(source.sql[0], /COLLATIONPROPERTY\(@p1, 'CodePage'\)/);
      // The rows are then selected as canonical values (mssqlHashedSelectSql), not hashed by HASHBYTES.
      const typed = plan(TABLE, [['Id', 'int'], ['name', 'nchar(5)'], ['at', 'datetime2(7)'], ['b', 'varbinary(10)'], ['f', 'float']], ['Id']);
      const targets = ['integer', 'varchar(5)', 'timestamp(6)', 'bytea', 'double precision'];
      const p = { ...typed, columns: typed.columns.map((c, i) => ({ ...c, targetType: targets[i] })) };
      const { sql, reads } = mssqlHashedSelectSql(p, p.columns, { index: 0, count: 1, lo: null, hi: null });
      assert.doesNotMatch(sql, /HASHBYTES|COLLATE/);
      assert.match(sql, /^SELECT CONVERT\(varchar\(20\), \[Id\]\), CONVERT\(varchar\(20\), \[Id\]\), \[name\], /);
      // Each value becomes pgCanonical's text in the worker: six digits, hex bytes, IEEE bits, padding kept.
      const [, name, at, b, f] = reads.columns;
      assert.equal(name.text('😀x  '), '😀x  ');
      assert.equal(at.text('2024-01-01 10:00:00'), '2024-01-01 10:00:00.000000 AD');
      assert.equal(at.text('9999-12-31 23:59:59.9999999'), '9999-12-31 23:59:59.999999 AD');
      assert.equal(b.text(Buffer.from([0, 255])), '00ff');
      assert.equal(f.text(0.1), '3fb999999999999a');
      assert.equal(f.text(null), null);
    });

    it('builds the row text and hashes it as pgChecksumSql does', () => {
      assert.equal(canonicalRowText(['1', null, '', 'é😀']), '1:1N0:2:é😀');
      assert.equal(md5Hex(''), 'd41d8cd98f00b204e9800998ecf8427e');
      assert.equal(first32('d41d8cd98f00b204e9800998ecf8427e'), 0xd41d8cd9n);
    });
  });

  describe('catalog SQL', () => {
    const named = [mssqlCatalog.columnsSql, mssqlCatalog.primaryKeySql, mssqlCatalog.estimateSql, mssqlCatalog.estimateFallbackSql];
    it('binds schema and table names, never inlines a value', () => {
      for (const sql of named) assert.match(sql, /WHERE s\.name = @p1 AND t\.name = @p2/);
      for (const sql of [mssqlCatalog.listTablesSql, ...named]) assert.doesNotMatch(sql, /'/);
    });
    it('lists user tables only', () => assert.match(mssqlCatalog.listTablesSql, /t\.is_ms_shipped = 0/));
    it('reads columns in order, computed ones included and marked', () => {
      assert.doesNotMatch(mssqlCatalog.columnsSql, /is_computed = 0/);
      assert.match(mssqlCatalog.columnsSql, /c\.is_computed AS is_computed/);
      assert.match(mssqlCatalog.columnsSql, /ORDER BY c\.column_id$/);
    });
    it('plans a computed column as an ordinary target column of its result type, and says so', () => {
      // sys.columns rows of: id int PRIMARY KEY, qty int, price money, total AS (qty * price) PERSISTED,
      // label AS (CONCAT(N'#', id)) (nvarchar(4000), not persisted).
      const rows: MssqlColumnRow[] = [
        { ...catalogRow('int', 4, 10, 0), name: 'id', is_nullable: false, is_computed: false },
        { ...catalogRow('int', 4, 10, 0), name: 'qty', is_computed: false },
        { ...catalogRow('money', 8, 19, 4), name: 'price', is_computed: false },
        { ...catalogRow('money', 8, 19, 4), name: 'total', is_computed: true },
        { ...catalogRow('nvarchar', 8000, 0, 0), name: 'label', is_nullable: false, is_computed: true },
      ];
      const table: SourceTable = { ref: TABLE, columns: columnsFromCatalog(rows), primaryKey: ['id'] };
      assert.deepEqual(table.columns.filter((c) => c.generated).map((c) => c.name), ['total', 'label']);
      const config = { target: { connection: 'dst', stateSchema: 'public', naming: 'preserve' as const }, typeMap: {} };
      const columns = planFullColumns(mssqlDialect, config, table);
      assert.deepEqual(columns.map((c) => `${c.name} ${c.targetType}`), ['id integer', 'qty integer', 'price numeric(19,4)', 'total numeric(19,4)', 'label varchar(4000)']);
      assert.deepEqual(columnNotes('preserve', table, columns), [
        'column "total" is generated in the source: its values are copied into an ordinary target column',
        'column "label" is generated in the source: its values are copied into an ordinary target column',
      ]);
      const p: TablePlan = { source: TABLE, target: TABLE, mode: 'full', columns, primaryKey: ['id'], integerKey: true, notes: [] };
      assert.match(mssqlSelectSql(p, { index: 0, count: 1, lo: null, hi: null }).sql, /^SELECT \[id\], \[qty\], CONVERT\(varchar\(50\), CONVERT\(decimal\(19,4\), \[price\]\)\), CONVERT\(varchar\(50\), CONVERT\(decimal\(19,4\), \[total\]\)\), \[label\] FROM/);
    });
    it('reads the primary key in key order', () => {
      assert.match(mssqlCatalog.primaryKeySql, /i\.is_primary_key = 1/);
      assert.match(mssqlCatalog.primaryKeySql, /ORDER BY ic\.key_ordinal$/);
    });
    it('counts heap or clustered-index rows once', () => {
      assert.match(mssqlCatalog.estimateSql, /SUM\(ps\.row_count\)[\s\S]*sys\.dm_db_partition_stats[\s\S]*ps\.index_id IN \(0, 1\)/);
      assert.match(mssqlCatalog.estimateFallbackSql, /SUM\(p\.rows\)[\s\S]*sys\.partitions[\s\S]*p\.index_id IN \(0, 1\)/);
    });
  });

  describe('row estimates never stop a sync', () => {
    const REF: TableRef = { schema: 'dbo', name: 'Genre' };
    const COUNT = 'SELECT COUNT_BIG(*) AS n FROM [dbo].[Genre]';
    /** A request layer that answers each SQL text from a script: a value, or an error to throw. */
    function recorded(script: Map<string, unknown>) {
      const sent: string[] = [];
      const query = async (sql: string, names: string[]) => {
        sent.push(sql);
        if (sql !== COUNT) assert.deepEqual(names, ['dbo', 'Genre'], 'names are bound, never inlined');
        const answer = script.get(sql);
        if (answer instanceof Error) throw answer;
        return answer as Record<string, unknown>[];
      };
      return { sent, query };
    }
    const requestError = (number: number, message: string) => Object.assign(new Error(message), { name: 'RequestError', number });
    // Babelfish for PostgreSQL speaks TDS but has no such DMV, and reports it with its own number.
    const babelfishNoView = requestError(33557097, 'relation "sys.dm_db_partition_stats" does not exist');

    it('falls back to sys.partitions on Babelfish\'s error for the missing view', async () => {
      const { sent, query } = recorded(new Map<string, unknown>([[mssqlCatalog.estimateSql, babelfishNoView], [mssqlCatalog.estimateFallbackSql, [{ estimate: '275' }]]]));
      assert.equal(await mssqlEstimateRows(query, REF), 275);
      assert.deepEqual(sent, [mssqlCatalog.estimateSql, mssqlCatalog.estimateFallbackSql]);
    });
    it('counts the rows when both catalog views fail, whatever the errors', async () => {
      const { sent, query } = recorded(
        new Map<string, unknown>([
          [mssqlCatalog.estimateSql, requestError(208, "Invalid object name 'sys.dm_db_partition_stats'.")],
          [mssqlCatalog.estimateFallbackSql, new Error('Timeout: Request failed to complete in 300000ms')],
          [COUNT, [{ n: '9007199254740993' }]],
        ]),
      );
      assert.equal(await mssqlEstimateRows(query, REF), 9007199254740992);
      assert.deepEqual(sent, [mssqlCatalog.estimateSql, mssqlCatalog.estimateFallbackSql, COUNT]);
    });
    it('treats a missing or negative estimate as unknown', async () => {
      const { sent, query } = recorded(
        new Map<string, unknown>([
          [mssqlCatalog.estimateSql, [{ estimate: null }]],
          [mssqlCatalog.estimateFallbackSql, [{ estimate: -1 }]],
          [COUNT, [{ n: 3 }]],
        ]),
      );
      assert.equal(await mssqlEstimateRows(query, REF), 3);
      assert.equal(sent.length, 3);
    });
    it('still uses the DMV when it answers, and reports the count\'s own error', async () => {
      const ok = recorded(new Map<string, unknown>([[mssqlCatalog.estimateSql, [{ estimate: 0 }]]]));
      assert.equal(await mssqlEstimateRows(ok.query, REF), 0, 'an empty table is a known 0');
      assert.deepEqual(ok.sent, [mssqlCatalog.estimateSql]);
      const gone = requestError(208, "Invalid object name 'dbo.Genre'.");
      const missing = recorded(new Map<string, unknown>([[mssqlCatalog.estimateSql, [{}]], [mssqlCatalog.estimateFallbackSql, []], [COUNT, gone]]));
      await assert.rejects(mssqlEstimateRows(missing.query, REF), (err) => err === gone);
    });
  });

  describe('reset-state --cursor: the value is parsed on the source, as the cursor type', () => {
    // SQL Server's recorded answers: TRY_CONVERT gives NULL for text that is not a value of the type.
    const answers = new Map<string, string | null>([
      ['2025-12-17 17:49:00', '2025-12-17 17:49:00.0000000'],
      ['not a date', null],
    ]);
    const sent: { sql: string; names: string[] }[] = [];
    const query = async (sql: string, names: string[]) => {
      sent.push({ sql, names });
      return [{ v: answers.get(names[0]) ?? null }];
    };

    it('binds the value, parses it with TRY_CONVERT in the saved style and returns the canonical text', async () => {
      const column = { type: 'datetime2(7)', dataType: 'datetime2' };
      assert.equal(await mssqlCursorValueText(query, column, '2025-12-17 17:49:00'), '2025-12-17 17:49:00.0000000');
      assert.equal(await mssqlCursorValueText(query, column, 'not a date'), null);
      assert.equal(sent[0].sql, 'SELECT CONVERT(varchar(27), TRY_CONVERT(datetime2(7), @p1, 121), 121) AS v');
      assert.deepEqual(sent[1].names, ['not a date'], 'bound, never inlined');
      await mssqlCursorValueText(query, { type: 'rowversion', dataType: 'rowversion' }, '0x00000000000007D1');
      assert.equal(
        sent[2].sql,
        "SELECT CONVERT(varchar(20), CONVERT(bigint, CASE WHEN @p1 LIKE '0x%' THEN TRY_CONVERT(binary(8), @p1, 1) ELSE TRY_CONVERT(binary(8), TRY_CONVERT(bigint, @p1)) END)) AS v",
      );
      await mssqlCursorValueText(query, { type: 'datetime', dataType: 'datetime' }, '2024-01-01 10:00:00.003');
      assert.equal(sent[3].sql, 'SELECT CONVERT(varchar(23), CONVERT(datetime2(3), TRY_CAST(TRY_CAST(@p1 AS datetime2(3)) AS datetime)), 121) AS v');
    });
  });
});
