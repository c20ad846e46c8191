// Command hostile is the sandbox tests' misbehaving program: the first line
// of its input names what it tries. Built for GOOS=wasip1 only.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unsafe"
)

//go:wasmimport wasi_snapshot_preview1 sock_accept
func sockAccept(fd int32, flags int32, result unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 sock_recv
func sockRecv(fd int32, iovs unsafe.Pointer, iovsLen int32, flags int32, n unsafe.Pointer, oflags unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 fd_prestat_get
func fdPrestatGet(fd int32, prestat unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 path_open
func pathOpen(fd int32, dirflags int32, path unsafe.Pointer, pathLen int32, oflags int32, rightsBase int64, rightsInheriting int64, fdflags int32, result unsafe.Pointer) int32

//go:wasmimport wasi_snapshot_preview1 fd_read
func fdRead(fd int32, iovs unsafe.Pointer, iovsLen int32, n unsafe.Pointer) int32

var sink [][]byte

func main() {
	in := bufio.NewReader(os.Stdin)
	mode, _ := in.ReadString('\n')
	switch strings.TrimSpace(mode) {
	case "loop":
		n := 0
		for {
			n++
		}
	case "alloc":
		for {
			b := make([]byte, 64<<20)
			for i := range b {
				if i%4096 == 0 {
					b[i] = 1
				}
			}
			sink = append(sink, b)
		}
	case "flood":
		line := []byte(strings.Repeat("x", 1023) + "\n")
		for {
			os.Stdout.Write(line)
		}
	case "files":
		for _, p := range []string{"/etc/passwd", "/", ".", "../../../../etc/hostname"} {
			_, err := os.Open(p)
			fmt.Printf("open %s: %v\n", p, err)
		}
		var buf [8]byte
		for fd := int32(3); fd < 8; fd++ {
			fmt.Printf("prestat %d: %d\n", fd, fdPrestatGet(fd, unsafe.Pointer(&buf[0])))
			name := []byte("etc/passwd")
			var opened int32
			fmt.Printf("path_open %d: %d\n", fd, pathOpen(fd, 0, unsafe.Pointer(&name[0]), int32(len(name)), 0, -1, -1, 0, unsafe.Pointer(&opened)))
		}
	case "sockets":
		var res int32
		var buf [16]byte
		var n, flags int32
		for fd := int32(0); fd < 8; fd++ {
			fmt.Printf("sock_accept %d: %d\n", fd, sockAccept(fd, 0, unsafe.Pointer(&res)))
			fmt.Printf("sock_recv %d: %d\n", fd, sockRecv(fd, unsafe.Pointer(&buf[0]), 1, 0, unsafe.Pointer(&n), unsafe.Pointer(&flags)))
		}
	case "env":
		fmt.Printf("args %d env %d\n", len(os.Args), len(os.Environ()))
		fmt.Printf("now %d\n", time.Now().Unix())
		host, err := os.Hostname()
		fmt.Printf("hostname %q %v\n", host, err)
	case "beyond":
		rest, _ := io.ReadAll(in)
		// Past the end of the stream, then other descriptors.
		var b [64]byte
		m, err := os.Stdin.Read(b[:])
		fmt.Printf("read %d\nagain %d %v\n", len(rest), m, err)
		for fd := 3; fd < 16; fd++ {
			f := os.NewFile(uintptr(fd), "x")
			m, err := f.Read(b[:])
			fmt.Printf("fd %d: %d %v\n", fd, m, err)
		}
		// An iovec pointing outside linear memory.
		iov := [2]uint32{0xFFFFFF00, 4096}
		var got uint32
		fmt.Printf("oob %d\n", fdRead(0, unsafe.Pointer(&iov[0]), 1, unsafe.Pointer(&got)))
	case "exit":
		fmt.Println("partial output that must not leave")
		os.Exit(3)
	case "panic":
		var p *int
		fmt.Println(*p)
	}
}
