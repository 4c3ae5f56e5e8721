#!/usr/bin/env python3
"""Writes the minimal_forwarder test's traces: IN.pcap with 60 IPv4 UDP,
30 IPv6 UDP (UDP checksum wrong on purpose: transit is not L4-checked) and
5 ARP frames, and EMPTY.pcap with no frame (the second port's RX)."""
import struct,sys
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); 
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
def v4(i):
    payload=bytes(range(20))
    udp=struct.pack('!HHHH',1000+i,53,8+len(payload),0)+payload
    ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),i,0,64,17,0,bytes([10,1,0,2]),bytes([10,2,0,2]))
    ip=ip[:10]+struct.pack('!H',csum(ip))+ip[12:]
    return b'\x02\0\0\0\x01\0'+b'\x02\0\0\0\x09\0'+b'\x08\x00'+ip+udp
def v6(i):
    payload=bytes(range(20))
    udp=struct.pack('!HHHH',2000+i,53,8+len(payload),0x1234)+payload  # checksum wrong on purpose: transit is not L4-checked
    ip=struct.pack('!IHBB16s16s',0x60000000,len(udp),17,64,bytes.fromhex('fd000001'+'0'*23+'2'),bytes.fromhex('fd000002'+'0'*23+'2'))
    return b'\x02\0\0\0\x01\0'+b'\x02\0\0\0\x09\0'+b'\x86\xdd'+ip+udp
def arp():
    return b'\xff'*6+b'\x02\0\0\0\x09\0'+b'\x08\x06'+struct.pack('!HHBBH6s4s6s4s',1,0x0800,6,4,1,b'\x02\0\0\0\x09\0',bytes([10,1,0,2]),b'\0'*6,bytes([10,1,0,1]))+b'\0'*18
def write(path,frames):
    with open(path,'wb') as f:
        f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1))
        for fr in frames:
            f.write(struct.pack('<IIII',0,0,len(fr),len(fr))+fr)

def main():
    frames=[v4(i) for i in range(60)]+[v6(i) for i in range(30)]+[arp() for _ in range(5)]
    write(sys.argv[1], frames)
    write(sys.argv[2], [])


main()
