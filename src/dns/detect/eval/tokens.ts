/** Labels and name parts common in legitimate domain names (written for this project). */
export const DOMAIN_TOKENS = `
www mail smtp imap pop webmail mx ns ns1 ns2 dns api cdn static img images assets media video
app apps m mobile shop store login auth account accounts my portal admin support help docs blog
news cloud online web net link go secure pay payment cart search maps drive photos play music
tv live stream dl download update updates upload files data sync edge gw proxy vpn remote
dev test stage prod beta alpha status metrics analytics ads ad adserver track tracking pixel
connect client service services server cache origin content login id sso oauth graph
`;
