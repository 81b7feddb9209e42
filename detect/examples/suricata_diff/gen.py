"""Random rules and payloads for the matcher-vs-Suricata differential check (see main.rs).
Usage: gen.py SEED OUTDIR"""
import os
import random, struct, sys
random.seed(int(sys.argv[1]) if len(sys.argv)>1 else 1)
os.chdir(sys.argv[2] if len(sys.argv)>2 else '.')
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
def ip4(proto, payload, src=b'\x0a\x00\x00\x01', dst=b'\x0a\x00\x00\x02'):
    h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(payload),1,0,64,proto,0,src,dst)
    return h[:10]+struct.pack('!H',csum(h))+h[12:]+payload
def udp(sport,dport,data):
    u=struct.pack('!HHHH',sport,dport,8+len(data),0)+data
    ph=b'\x0a\x00\x00\x01\x0a\x00\x00\x02'+struct.pack('!BBH',0,17,len(u))
    return ip4(17,u[:6]+struct.pack('!H',csum(ph+u) or 0xffff)+u[8:])
AL=[b'a',b'b',b'c',b'A',b'\x01',b'\x02',b'1',b'3']
def rstr(n): return b''.join(random.choice(AL) for _ in range(n))
def hexs(b): return '|'+' '.join('%02x'%x for x in b)+'|'
rules=[]; specs=[]
REGEX=[('a.b',''),('^a',''),('b+c',''),('[ab]{2}',''),('^b',''),('c$',''),('a',''),('AB','i')]
sid=0
while len(rules)<400:
    sid+=1
    kws=[]; spec=[]
    have_content=False
    for k in range(random.randint(1,4)):
        t=random.random()
        if t<0.6:
            n=random.randint(1,3); pat=rstr(n)
            neg=random.random()<0.2; nocase=random.random()<0.2
            kw='content:%s"%s"'%('!' if neg else '',hexs(pat)); sp=['C',pat.hex()]
            if neg: sp.append('neg')
            if nocase: kw+='; nocase'; sp.append('n')
            mode=random.random()
            if mode<0.45 and have_content:
                if random.random()<0.6:
                    d=random.randint(-3,3); kw+='; distance:%d'%d; sp.append('dist=%d'%d)
                if random.random()<0.6 or 'dist' not in kw:
                    w=random.randint(n,n+4); kw+='; within:%d'%w; sp.append('w=%d'%w)
            elif mode<0.65:
                if random.random()<0.5:
                    o=random.randint(0,4); kw+='; offset:%d'%o; sp.append('o=%d'%o)
                if random.random()<0.6:
                    d=random.randint(n,n+5); kw+='; depth:%d'%d; sp.append('d=%d'%d)
            elif mode<0.72:
                kw+='; startswith'; sp.append('sw')
            elif mode<0.8:
                kw+='; endswith'; sp.append('ew')
            kws.append(kw); spec.append(' '.join(sp)); have_content=True
        elif t<0.75:
            rx,fl=random.choice(REGEX)
            if random.random()<0.4 and have_content: fl+='R'
            neg=random.random()<0.2
            kws.append('pcre:%s"/%s/%s"'%('!' if neg else '',rx,fl)); spec.append('P %s %s%s'%(rx.encode().hex(),fl or '-',' neg' if neg else ''))
            have_content=True
        elif t<0.85:
            n=random.randint(0,5); rel=random.random()<0.5 and have_content; neg=random.random()<0.3
            kws.append('isdataat:%s%d%s'%('!' if neg else '',n,',relative' if rel else '')); spec.append('I %d %d %d'%(n,rel,neg))
        elif t<0.93:
            op=random.choice(['<','>','=','&']); v=random.choice([1,2,3,13,31,49,65,97,98]); off=random.randint(0,3); rel=random.random()<0.5 and have_content
            if random.random()<0.3:
                n=random.randint(1,2); base=random.choice(['dec','hex','oct'])
                kws.append('byte_test:%d,%s,%d,%d%s,string,%s'%(n,op,v,off,',relative' if rel else '',base)); spec.append('T %s %d %d %d %d %s'%(op,v,off,rel,n,base))
            else:
                kws.append('byte_test:1,%s,%d,%d%s'%(op,v,off,',relative' if rel else '')); spec.append('T %s %d %d %d'%(op,v,off,rel))
        else:
            off=random.randint(0,2); rel=random.random()<0.5 and have_content
            opts=[]; sp=['J',str(off),str(int(rel))]
            if random.random()<0.2: m=random.randint(2,3); opts.append('multiplier %d'%m); sp.append('m=%d'%m)
            if random.random()<0.2: opts.append('align'); sp.append('al')
            if random.random()<0.2: opts.append('from_beginning'); sp.append('fb')
            if random.random()<0.3: po=random.randint(-3,3); opts.append('post_offset %d'%po); sp.append('po=%d'%po)
            kws.append('byte_jump:1,%d%s%s'%(off,',relative' if rel else '',''.join(','+o for o in opts))); spec.append(' '.join(sp))
    rules.append('alert udp any any -> any any (msg:"r%d"; %s; sid:%d;)'%(sid,'; '.join(kws),sid))
    specs.append('%d\t%s'%(sid,' ; '.join(spec)))
open('r.rules','w').write('\n'.join(rules)+'\n')
open('r.spec','w').write('\n'.join(specs)+'\n')
pays=[rstr(random.randint(1,14)) for _ in range(300)]
open('p.hex','w').write('\n'.join(p.hex() for p in pays)+'\n')
out=open('p.pcap','wb'); out.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1))
for i,data in enumerate(pays):
    f=b'\x00\x11\x22\x33\x44\x55'+b'\x66\x77\x88\x99\xaa\xbb'+struct.pack('!H',0x800)+udp(10000+i,5000,data)
    out.write(struct.pack('<IIII',1700000000+i,0,len(f),len(f))+f)
