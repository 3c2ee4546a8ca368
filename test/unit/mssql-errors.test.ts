import assert from 'node:assert/strict';
import { classifyError } from '../../activities/errors';

// SQL Server errors as the mssql driver raises them (RequestError with the
// server's number and class), and Babelfish's, which answers most with 33557097.
const request = (number: number, cls: number, message: string) => Object.assign(new Error(message), { name: 'RequestError', number, class: cls });

describe('SQL Server errors by number and class', () => {
  const cases: [string, Error, string, boolean][] = [
    ['conversion (245)', request(245, 16, "Conversion failed when converting the nvarchar value 'x' to data type int."), 'DatabaseError', false],
    ['DATEADD(second) on a date (9810)', request(9810, 16, 'The datepart second is not supported by date function dateadd for data type date.'), 'DatabaseError', false],
    ['missing object (208)', request(208, 16, "Invalid object name 'dbo.nope'."), 'UnknownTable', false],
    ['missing column (207)', request(207, 16, "Invalid column name 'nope'."), 'UnknownColumn', false],
    ['permission (229)', request(229, 14, 'The SELECT permission was denied on the object'), 'PermissionDenied', false],
    ['deadlock victim (1205)', request(1205, 13, 'Transaction (Process ID 52) was deadlocked'), 'DatabaseUnavailable', true],
    ['unknown statement error (class 16)', request(50000, 16, 'raised by the application'), 'DatabaseError', false],
    ['server resource error (class 17)', request(50001, 17, 'insufficient resources'), 'DatabaseUnavailable', true],
    ['Babelfish conversion', request(33557097, 16, 'invalid input syntax for type integer: "abc"'), 'DatabaseError', false],
    ['Babelfish missing table', request(33557097, 16, 'relation "db_dbo.nope" does not exist'), 'UnknownTable', false],
    ['Babelfish missing column', request(33557097, 16, 'column "nope" does not exist'), 'UnknownColumn', false],
    ['Babelfish permission', request(33557097, 16, 'permission denied for table t'), 'PermissionDenied', false],
    ['Babelfish deadlock', request(33557097, 16, 'deadlock detected'), 'DatabaseUnavailable', true],
    ['request timeout (no number)', Object.assign(new Error('Timeout: Request failed to complete in 15000ms'), { name: 'RequestError', code: 'ETIMEOUT' }), 'DatabaseUnavailable', true],
    ['connection lost', Object.assign(new Error('Connection lost - read ECONNRESET'), { name: 'ConnectionError', code: 'ESOCKET' }), 'DatabaseUnavailable', true],
    ['bad login', Object.assign(new Error("Login failed for user 'sa'."), { name: 'ConnectionError', code: 'ELOGIN' }), 'AuthenticationFailed', false],
  ];
  for (const [what, err, type, retry] of cases) {
    it(`${what}: ${type}, ${retry ? 'retried' : 'not retried'}`, () => {
      const f = classifyError(err, 'read dbo.t');
      assert.equal(f.type, type);
      assert.equal(f.nonRetryable, !retry);
      assert.match(f.message, /^read dbo\.t: /);
    });
  }
});
