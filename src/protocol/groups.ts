// Raft group numbers reserved by the cluster itself. A group's number is its id on the peer wire
// (a u32) and names its data directory (groups/<number>/ for any group but 0). Sets take their
// group numbers from 0 up (group 0 is the set every node ran before groups existed); the
// controller's group takes the top of the range, which no set may be given.

/** The cluster controller's Raft group (u32 max): never a set's group. */
export const CONTROLLER_GROUP = 0xffff_ffff;
