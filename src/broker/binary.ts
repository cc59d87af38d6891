// The broker's byte writer and reader live in protocol/ (the controller's codec uses them too);
// re-exported here under the broker's names so its codec, snapshot and tests read as before. The
// log and snapshots are checksummed by storage, so a FormatError in the broker means a bug.

export { FormatError as BrokerFormatError, ByteReader, ByteWriter, utf8Bytes } from '../protocol/binary';
