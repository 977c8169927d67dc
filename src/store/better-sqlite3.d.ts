/**
 * The part of better-sqlite3 (v12) the call store uses. The package ships no types and none are
 * installed, so they are declared here; every call site is inside src/store, so nothing public
 * depends on this declaration.
 */
declare module 'better-sqlite3' {
  namespace BetterSqlite3 {
    interface RunResult {
      changes: number;
      lastInsertRowid: number | bigint;
    }
    interface Statement {
      run(...params: unknown[]): RunResult;
      get(...params: unknown[]): unknown;
      all(...params: unknown[]): unknown[];
    }
    interface Options {
      readonly?: boolean;
      fileMustExist?: boolean;
      /** ms to wait on a locked database before SQLITE_BUSY. */
      timeout?: number;
    }
    interface Database {
      prepare(sql: string): Statement;
      exec(sql: string): Database;
      pragma(sql: string, options?: { simple?: boolean }): unknown;
      transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
      close(): Database;
      readonly open: boolean;
      readonly inTransaction: boolean;
      readonly memory: boolean;
    }
  }
  const BetterSqlite3: new (filename: string, options?: BetterSqlite3.Options) => BetterSqlite3.Database;
  export = BetterSqlite3;
}
