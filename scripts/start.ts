// `npm start`: the whole system in one process on the embedded database.
import '../gateway/entry/bun.ts';
