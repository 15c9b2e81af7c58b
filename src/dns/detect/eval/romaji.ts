/**
 * Japanese words, brands and places in Hepburn romaji, as they appear in domain labels
 * (written for this project). They teach the character model that labels such as
 * "kagoshima", "shinkansen" or "yomiuri" are ordinary, so Japanese clients' names are not
 * scored as machine-generated.
 */
export const ROMAJI = `
tokyo osaka kyoto nagoya sapporo sendai fukuoka kobe yokohama kawasaki saitama chiba hiroshima
kagoshima okinawa nagasaki kumamoto niigata shizuoka hamamatsu kanazawa toyama matsuyama takamatsu
shinjuku shibuya ikebukuro akihabara ginza roppongi umeda namba tenjin hakata shinagawa ueno
nihon nippon yamato fuji sakura hana yuki tsuki hoshi sora umi yama kawa mori shima machi mura
rakuten yahoo nikkei asahi yomiuri mainichi sankei tokyu keio odakyu seibu hankyu hanshin kintetsu
meitetsu nishitetsu toyota honda nissan mazda subaru suzuki yamaha kawasaki mitsubishi sumitomo
mitsui hitachi toshiba panasonic sharp sony fujitsu kyocera nintendo sega bandai konami capcom
softbank docomo rakuma mercari kakaku tabelog gurunavi jalan ikyu hotpepper suumo homes kurashi
shinkansen densha eki kippu ryokan onsen izakaya ramen sushi tempura soba udon bento matcha
kaisha ginko hoken byoin gakko daigaku kenkyu jimusho shiyakusho kencho toshokan hakubutsukan
yubin denki gasu suido jutaku fudosan kensetsu unyu takuhai kuroneko sagawa yamato
shinbun terebi rajio zasshi hon manga anime geemu ongaku eiga shashin bijutsu
kodomo kazoku tomodachi sensei gakusei shain kaiin okyakusama
kaimono tsuhan ichiba shoten shokudo kissaten pan kashi sake cha kome yasai kudamono niku sakana
tenki jishin taifu bousai kinkyu anzen hoan keisatsu shobo
ichigo ringo mikan momo budo nashi kaki suika meron banana
aozora midori akane hikari nozomi kodama hayabusa komachi tsubasa yamabiko asama kagayaki
hokkaido tohoku kanto chubu kinki kansai chugoku shikoku kyushu
minato chiyoda chuo taito sumida koto meguro setagaya nerima suginami nakano toshima kita arakawa
itabashi adachi katsushika edogawa hachioji tachikawa musashino mitaka machida fuchu chofu
kddi ntt nhk jcom iij biglobe nifty ocn plala sonet asahinet eonet commufa bbexcite
`;
