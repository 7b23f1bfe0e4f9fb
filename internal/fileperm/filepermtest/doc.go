// Package filepermtest checks, in the tests of the flushers that write record files, that those
// files and the directories made for them get the modes package fileperm promises.
package filepermtest
